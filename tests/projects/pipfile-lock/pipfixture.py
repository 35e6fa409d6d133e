MESSAGE = "installed because the Pipfile names the project as a path"
