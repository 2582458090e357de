"""Device drivers behind small interfaces: cameras and QR decoding, laser/imager scanners, printers, feedback.

Each sub-package imports its heavy libraries (OpenCV, zxing-cpp, python-escpos, pyjnius…) lazily or only in
the module that needs them, so the agent core never pays for a driver it does not use."""
