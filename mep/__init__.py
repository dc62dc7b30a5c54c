"""ETSI MEC platform: Mp1, MEC service APIs and the CAPIF core function."""
