import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from sitemapadmin.secret_key import refuse_development_key

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sitemapadmin.settings")
application = get_wsgi_application()
# Every web server loads this module (gunicorn, uwsgi, runserver, runapp): none starts on the
# published development key.
refuse_development_key(settings)
