"""Front doors: command lines that wire a source to sinks."""
