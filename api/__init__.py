"""The web layer: thin FastAPI views over o2o services."""
