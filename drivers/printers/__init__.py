"""Kiosk printers: ESC/POS receipt printers, Zebra ZPL ticket printers, CR80 badges through CUPS/IPP, discovery.

Each printer language is one module registered in `registry` (lang_escpos, lang_zpl, lang_badge); everything else
asks the registry. Every send returns a PrintResult saying whether the job printed, and why not in words a kiosk
operator acts on (English, or French with `in_language`); a job is never lost silently (`queue`)."""
