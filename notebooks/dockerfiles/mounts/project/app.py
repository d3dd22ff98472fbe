"""The project's app: a one-page Django site, served by Django's own development server."""

import sys

from django.conf import settings
from django.core.management import execute_from_command_line
from django.http import HttpResponse
from django.urls import path

settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, SECRET_KEY="only-for-the-lesson")


def hello(request):
    return HttpResponse("hello from a small image\n")


urlpatterns = [path("", hello)]

if __name__ == "__main__":
    execute_from_command_line([sys.argv[0], "runserver", "0.0.0.0:8000", "--noreload"])
