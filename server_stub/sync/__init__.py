"""Server side of MQTT sync: ingestion, bundles, the broker process, simulated devices."""
