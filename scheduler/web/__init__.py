"""The Flask app (the only Flask-importing subpackage)."""
