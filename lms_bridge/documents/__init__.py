"""Documents for signature: a protocol per student and the session's grade sheet (PDF and XLSX)."""
