"""DPO reports: retention and the Art. 30 record of processing, as PDF, JSON and CSV."""
