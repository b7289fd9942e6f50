"""The smart-car reference pipeline: driving records stored, speeding cars flagged."""
