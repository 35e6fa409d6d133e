"""One parser per Binder file kind. Each returns a frozen value or raises InputFileError."""
