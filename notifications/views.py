"""Placeholder: being written (bell, inbox, log, channels, acknowledging)."""

from django.http import HttpResponse


def _todo(request, **kwargs):
    return HttpResponse(status=501)


inbox = bell = mark_read = log = channels = channel_test = acknowledge = acknowledge_link = _todo
