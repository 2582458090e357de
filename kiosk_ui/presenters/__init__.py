"""Pure view-models: plain data in, plain data out. No Kivy import here (tested without rendering)."""
