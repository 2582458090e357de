"""The organiser's side: events, orders, signing keys, pushing bundles, ingesting scans."""
