from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "kartoteka.people"
    label = "people"
