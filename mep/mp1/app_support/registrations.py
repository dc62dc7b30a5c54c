"""[V3] Application registration (ETSI GS MEC 011 V3 ``/registrations``, AppInfo).

An instance the platform created registers its AppInfo with its own token. An app the platform
did not instantiate (``isInsByMec: false``) may register itself only where the operator allows it
(``MEP_ALLOW_SELF_REGISTRATION``, off by default): it then POSTs without a token, and the
platform creates an application instance for it, answering, as the operator API does on a
creation, with the instance's OAuth 2.0 client credentials (``clientId``, and ``clientSecret``
this once). From then on the app is an instance like any other: it gets tokens at
``/oauth2/token``, uses Mp1 under its own id, and the operator sees and may delete it.

The registration is kept in the instance's document, so it goes with the instance. Deregistering
an instance the platform created forgets its AppInfo; deregistering a self-registered app removes
its instance (and so revokes its tokens): the app is leaving.
"""

from __future__ import annotations

from dataclasses import dataclass

from mep.auth.principal import Principal
from mep.core.problem import BadRequest, Conflict, Forbidden, InvalidParam, NotFound, Unauthorized
from mep.mgmt.models import AppInstanceRecord, AppInstanceSpec
from mep.mgmt.service import AppInstanceService, StoredInstance, check_instance_id
from mep.mp1.app_support.models import AppInfo
from mep.mp1.app_support.termination import Terminations


@dataclass(frozen=True)
class Registration:
    info: AppInfo
    version: int
    client_secret: str | None = None


def _registration(found: StoredInstance) -> Registration:
    info = found.record.registration
    if info is None:
        raise NotFound(f"application instance {found.record.app_instance_id!r} is not registered")
    return Registration(info, found.version)


def _own(record: AppInstanceRecord, info: AppInfo) -> AppInfo:
    """What the platform stores of ``info``: its own word on the id and on isInsByMec."""
    update = {"app_instance_id": record.app_instance_id, "is_ins_by_mec": record.is_ins_by_mec}
    return info.model_copy(update=update)


def _check_id(info: AppInfo, instance_id: str) -> None:
    if info.app_instance_id not in (None, instance_id):
        raise BadRequest(
            "appInstanceId cannot differ from the registering instance",
            invalid_params=[InvalidParam("/appInstanceId", f"must be {instance_id!r}")],
        )


class Registrations:
    def __init__(
        self, instances: AppInstanceService, terminations: Terminations, *, allow_self: bool
    ) -> None:
        self._instances = instances
        self._terminations = terminations
        self._allow_self = allow_self

    async def register(self, caller: Principal | None, info: AppInfo) -> Registration:
        """POST /registrations: ``caller`` None is an app registering itself."""
        if caller is None:
            return await self._self_register(info)
        if caller.is_operator:
            if info.app_instance_id is None:
                raise BadRequest(
                    "the operator registers an existing instance: name it",
                    invalid_params=[InvalidParam("/appInstanceId", "required")],
                )
            instance_id = info.app_instance_id
        else:
            instance_id = caller.subject
            if info.app_instance_id not in (None, instance_id):
                raise Forbidden(f"{instance_id!r} may only register itself")

        def register(record: AppInstanceRecord) -> AppInstanceRecord:
            if record.registration is not None:
                raise Conflict(f"application instance {instance_id!r} is registered already")
            return record.model_copy(update={"registration": _own(record, info)})

        found = await self._instances.update(instance_id, register, event="AppRegistered")
        return _registration(found)

    def admit_anonymous(self) -> None:
        """A registration without a token: 401 unless the operator allows self-registration."""
        if not self._allow_self:
            raise Unauthorized(
                "an Authorization: Bearer <token> header is required; this platform does not "
                "accept registrations of apps it did not instantiate"
            )

    async def _self_register(self, info: AppInfo) -> Registration:
        self.admit_anonymous()
        if info.is_ins_by_mec is not False:
            raise BadRequest(
                "without a token, only an app not instantiated by the platform registers",
                invalid_params=[InvalidParam("/isInsByMec", "must be false")],
            )
        if info.app_instance_id is not None:
            try:
                check_instance_id(info.app_instance_id)
            except BadRequest as error:
                raise BadRequest(
                    error.detail, invalid_params=[InvalidParam("/appInstanceId", error.detail)]
                ) from None
        spec = AppInstanceSpec(
            app_name=info.app_name, app_provider=info.app_provider, app_d_id=info.app_d_id
        )
        created = await self._instances.create_registered(info.app_instance_id, spec, info)
        registered = _registration(created)
        return Registration(registered.info, created.version, created.client_secret)

    async def list(self, caller: Principal) -> list[AppInfo]:
        """Every registration for the operator; its own (if any) for an instance."""
        if caller.is_operator:
            found = await self._instances.list()
        else:
            own = await self._instances.find(caller.subject)
            found = [] if own is None else [own]
        return [s.record.registration for s in found if s.record.registration is not None]

    @staticmethod
    def get(instance: StoredInstance) -> Registration:
        return _registration(instance)

    async def replace(self, instance_id: str, info: AppInfo, if_match: int | None) -> Registration:
        """PUT: a new AppInfo; a self-registered app's name and provider follow it."""
        _check_id(info, instance_id)

        def replace(record: AppInstanceRecord) -> AppInstanceRecord:
            if record.registration is None:
                raise NotFound(f"application instance {instance_id!r} is not registered")
            update: dict[str, object] = {"registration": _own(record, info)}
            if not record.is_ins_by_mec:
                names = {"app_name": info.app_name, "app_provider": info.app_provider}
                names["app_d_id"] = info.app_d_id
                update["spec"] = record.spec.model_copy(update=names)
            return record.model_copy(update=update)

        found = await self._instances.update(
            instance_id, replace, if_match=if_match, event="AppRegistrationUpdated"
        )
        return _registration(found)

    async def deregister(self, instance_id: str) -> None:
        current = await self._instances.get(instance_id)
        _registration(current)
        if not current.record.is_ins_by_mec:
            await self._terminations.remove_now(instance_id)
            return

        def forget(record: AppInstanceRecord) -> AppInstanceRecord:
            _registration(StoredInstance(record, 0))
            return record.model_copy(update={"registration": None})

        await self._instances.update(instance_id, forget, event="AppDeregistered")
