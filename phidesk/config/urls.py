from django.urls import include, path

from phidesk.api.router import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("phidesk.web.urls")),
]

handler404 = "phidesk.web.views.not_found"
handler403 = "phidesk.web.views.forbidden"
handler400 = "phidesk.web.views.bad_request"
handler500 = "phidesk.web.views.server_error"
