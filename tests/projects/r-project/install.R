# Binder runs install.R as the notebook user, after apt.txt: both are checked here.
stopifnot(Sys.info()[["effective_user"]] == "jovyan")
stopifnot(requireNamespace("praise", quietly = TRUE))
install.packages("nbshipgreet")
