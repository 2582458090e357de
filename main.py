"""Android entry point: python-for-android (buildozer) starts `main.py` at the root of the package.
On a desktop, use `ticketgate kiosk` instead."""
from kiosk_ui.android_main import run

if __name__ == "__main__":
    run()
