"""Paged lists: ``?page=N&page_size=M`` (M up to 200, 50 by default), answered as
``{"count", "next", "previous", "results"}``."""

from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
