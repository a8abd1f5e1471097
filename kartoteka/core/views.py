from django.http import HttpRequest, HttpResponse


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness only: says nothing about data, keys or users."""
    return HttpResponse("ok", content_type="text/plain")
