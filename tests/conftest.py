import pytest

from tests.sites import FixtureSite


@pytest.fixture
def site_factory():
    """Start local fixture sites on 127.0.0.1; all are stopped after the test."""
    sites = []

    def make(**kwargs):
        site = FixtureSite(**kwargs)
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.close()


@pytest.fixture
def site(site_factory):
    return site_factory()


@pytest.fixture(autouse=True)
def _local_sites_allowed(settings):
    # The fixture sites live on loopback, which the address guard refuses by default.
    settings.SITEMAPS_ALLOW_PRIVATE_HOSTS = True
    settings.SITEMAPS_RETRIES = 0


@pytest.fixture
def q_sync(monkeypatch):
    """django-q2 runs each task in the calling process, as soon as it is enqueued."""
    monkeypatch.setattr("django_q.conf.Conf.SYNC", True)


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner", password="owner-pass-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("other", password="other-pass-123")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", password="staff-pass-123", is_staff=True, is_superuser=True)


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client
