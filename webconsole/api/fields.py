"""Serializer fields stricter than DRF's own, so that the API takes what its schema says."""

from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS


class _StringOnly:
    """Mixed into a string field: the value must be a JSON string (the field's ``invalid``
    message otherwise), never a number DRF would turn into one."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(_StringOnly, serializers.CharField):
    """A string, and only a string: DRF's ``CharField`` also takes numbers (``0`` becomes
    ``"0"``), which the schema's ``type: string`` does not allow."""

    default_error_messages = {"invalid": "Not a string."}


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer, and only that: DRF's ``IntegerField`` also takes ``"800"`` and ``800.0``."""

    default_error_messages = {"invalid": "A whole number is required (not a string)."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSlugField(_StringOnly, serializers.SlugField):
    """A slug given as a string, never a number turned into one."""


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` or ``false`` only: DRF's ``BooleanField`` also takes ``"yes"``, ``1``, ``"0"``."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictFloatField(serializers.FloatField):
    """A JSON number (integer or not), never a string, a boolean or a non-finite value."""

    default_error_messages = {"invalid": "A number is required (not a string)."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    """One of the choices, given as the string it is (DRF's matches ``str(data)``)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class StrictEmailField(_StringOnly, serializers.EmailField):
    default_error_messages = {"invalid": "Enter a valid email address (a string)."}


class StrictManyRelatedField(serializers.ManyRelatedField):
    """A JSON array of references: DRF's takes any iterable, so an object counts as the list of
    its keys."""

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        return super().to_internal_value(data)


class StrictSlugRelatedField(serializers.SlugRelatedField):
    """An object named by its slug, given as a string (``5`` is not the group named ``"5"``);
    ``many=True`` takes a JSON array of them. ``""`` is no name (DRF's reads it as null)."""

    def run_validation(self, data=serializers.empty):
        if data == "":
            self.fail("invalid")
        return super().run_validation(data)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)

    @classmethod
    def many_init(cls, *args, **kwargs):
        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        for key in kwargs:
            if key in MANY_RELATION_KWARGS:
                list_kwargs[key] = kwargs[key]
        return StrictManyRelatedField(**list_kwargs)
