"""Kiosk printers: ESC/POS receipt printers, Zebra ZPL ticket printers, CR80 badges through CUPS/IPP, discovery.

Every send returns a PrintResult saying whether the job printed, and why not in words a kiosk operator acts on;
a job is never lost silently."""
