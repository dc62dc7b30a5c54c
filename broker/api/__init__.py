"""The OSB HTTP API: ``/v2/catalog`` and ``/v2/service_instances/...`` (see ``routes``)."""
