"""The texts the engine itself shows (not tied to one menu), in every shipped language.

A menu file with a ``[messages]`` table may replace any of them.
"""

from __future__ import annotations

from collections.abc import Mapping

BUILTIN_MESSAGES: Mapping[str, Mapping[str, str]] = {
    "more": {"ru": "Ещё", "en": "More"},
    "back": {"ru": "Назад", "en": "Back"},
    "unknown_code": {
        "ru": "Такой команды нет. Проверьте номер и наберите снова.",
        "en": "This code is not in service. Check it and dial again.",
    },
    "bad_request": {
        "ru": "Запрос не распознан. Наберите команду снова, например *100#.",
        "en": "Request not recognised. Please dial again, e.g. *100#.",
    },
    "menu_changed": {
        "ru": "Меню обновилось. Пожалуйста, наберите команду снова.",
        "en": "The menu has been updated. Please dial again.",
    },
    "session_expired": {
        "ru": "Сеанс завершён. Наберите команду снова.",
        "en": "Your session has ended. Please dial again.",
    },
    "wrong_choice": {"ru": "Нет такого пункта.", "en": "No such option."},
    "too_many_tries": {
        "ru": "Слишком много неверных попыток. Наберите команду снова.",
        "en": "Too many wrong answers. Please dial again.",
    },
    "service_unavailable": {
        "ru": "Сервис временно недоступен. Попробуйте позже.",
        "en": "Service temporarily unavailable. Please try later.",
    },
    "not_subscriber": {
        "ru": "Услуга доступна только абонентам нашей сети.",
        "en": "This service is for our network's subscribers only.",
    },
    "invalid_digits": {"ru": "Введите только цифры.", "en": "Digits only, please."},
    "invalid_length": {"ru": "Неверная длина.", "en": "Wrong length."},
    "invalid_msisdn": {
        "ru": "Неверный номер. Пример: 79161234567.",
        "en": "Invalid number. Example: 79161234567.",
    },
    "invalid_amount": {
        "ru": "Неверная сумма. Пример: 100 или 99.50.",
        "en": "Invalid amount. Example: 100 or 99.50.",
    },
    "invalid_pattern": {"ru": "Неверный ввод.", "en": "Invalid input."},
}

# Outcomes every action may return; a menu that does not map them gets these screens.
DEFAULT_OUTCOME_MESSAGES: Mapping[str, str] = {
    "error": "service_unavailable",
    "not_subscriber": "not_subscriber",
}
