from setuptools import setup

setup(name="pipfixture", version="0.1", py_modules=["pipfixture"])
