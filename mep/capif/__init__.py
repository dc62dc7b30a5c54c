"""The CAPIF core function (3GPP TS 29.222, security per TS 33.122): TLS transport, client
identities, pre-provisioning, invoker onboarding and provider registration."""
