"""Charging: invocations of the platform's service APIs, aggregated per payer, API and hour,
and priced by the operator's tariffs."""
