"""Open Service Broker API v2.17 broker for the platform's backing services."""
