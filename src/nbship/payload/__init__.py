"""Code that runs inside the image, as plain files: nothing on the host imports these modules
except to ship them (nbship.render.support puts them into every build; nbship check copies the
runner into its container). Each keeps to the standard library (or, for the conda installer,
py-rattler), and to the Python of the image (3.8 or newer)."""
