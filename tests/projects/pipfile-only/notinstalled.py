print("this package is not installed: the Pipfile does not name it")
