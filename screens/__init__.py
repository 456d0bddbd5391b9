"""The Textual wizard (installed as kmwizard.screens)."""
