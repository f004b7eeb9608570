"""Federation: nodes ship every change to the centre, and the passport follows the person."""
