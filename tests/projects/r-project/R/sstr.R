answer <- function() nbshipstats::double_core()
