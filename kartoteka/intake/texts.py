"""The public pages' words in Russian and English, kept here rather than in the staff catalogue so the
intake host needs no compiled translations and the reporter's language is a plain request parameter
(no cookie, no session)."""

from __future__ import annotations

from typing import Literal

Lang = Literal["ru", "en"]
LANGS: tuple[Lang, ...] = ("ru", "en")

_TEXTS: dict[str, tuple[str, str]] = {
    "title": ("Сообщить о нарушении", "Report what happened"),
    "intro": (
        "Эта форма для родственников и самих заключённых. Расскажите, что случилось. Отвечать на всё "
        "не обязательно.",
        "This form is for relatives and prisoners themselves. Tell us what happened. You need not answer "
        "everything.",
    ),
    "safety_title": ("Прежде чем писать", "Before you write"),
    "safety_1": (
        "Не указывайте своё имя, адрес и номер телефона, если в этом нет необходимости.",
        "Do not give your own name, address or phone number unless it is needed.",
    ),
    "safety_2": (
        "Не прикладывайте фотографии документов с вашими данными. Снимки с телефона могут хранить "
        "место и время съёмки.",
        "Do not attach photos of documents with your details. Phone photos may record where and when "
        "they were taken.",
    ),
    "safety_3": (
        "Безопаснее всего открывать эту страницу через Tor Browser с компьютера, которым пользуетесь только "
        "вы.",
        "It is safest to open this page in Tor Browser on a computer only you use.",
    ),
    "safety_4": (
        "Мы не сохраняем ваш IP-адрес, браузер и точное время отправки.",
        "We do not store your IP address, your browser or the exact time you send this.",
    ),
    "who": ("Кто сообщает", "Who is reporting"),
    "relationship": ("Кем вы приходитесь человеку", "Your relationship to the person"),
    "person": ("О ком речь", "The person"),
    "person_name": ("Фамилия, имя, отчество", "Full name"),
    "birth_year": ("Год рождения", "Year of birth"),
    "facility": ("Учреждение (колония, СИЗО), регион", "Facility (colony, remand prison), region"),
    "what": ("Что случилось", "What happened"),
    "categories": ("Что из этого было", "Which of these happened"),
    "what_text": ("Опишите своими словами", "Describe it in your own words"),
    "when": ("Когда (можно примерно: «весна 2023»)", 'When (roughly is fine: "spring 2023")'),
    "promise": ("Обещания", "Promises"),
    "promised": ("Что обещали (деньги, помилование, срок службы)", "What was promised (pay, pardon, term)"),
    "became": ("Что из этого выполнено", "What became of it"),
    "contact": ("Как с вами связаться (необязательно)", "How to reach you (optional)"),
    "contact_help": (
        "Если не укажете, мы сможем ответить только через кодовую фразу.",
        "If you leave this empty, we can answer only through your codename.",
    ),
    "files": ("Файлы (необязательно)", "Files (optional)"),
    "files_help": (
        "До {count} файлов, каждый до {size} МБ: фото, PDF, документы, аудио, видео.",
        "Up to {count} files, each up to {size} MB: photos, PDF, documents, audio, video.",
    ),
    "submit": ("Отправить", "Send"),
    "sent_title": ("Сообщение получено", "Your report was received"),
    "codename_intro": (
        "Это ваша кодовая фраза. Запишите её и храните в надёжном месте. Она показывается один раз: "
        "восстановить её нельзя.",
        "This is your codename. Write it down and keep it safe. It is shown only once and cannot be "
        "recovered.",
    ),
    "codename_use": (
        "С ней вы сможете вернуться, дополнить сообщение и прочитать наш ответ.",
        "With it you can come back, add information and read our reply.",
    ),
    "return_link": ("Вернуться с кодовой фразой", "Return with your codename"),
    "return_title": ("Вернуться с кодовой фразой", "Return with your codename"),
    "codename": ("Кодовая фраза", "Codename"),
    "open": ("Открыть", "Open"),
    "replies": ("Ответы", "Replies"),
    "no_replies": ("Ответов пока нет.", "No replies yet."),
    "add_title": ("Дополнить сообщение", "Add information"),
    "add_text": ("Что вы хотите добавить", "What would you like to add"),
    "add_submit": ("Добавить", "Add"),
    "added": ("Дополнение получено.", "Your addition was received."),
    "bad_codename": (
        "Кодовая фраза не подошла. Проверьте слова.",
        "That codename did not work. Check the words.",
    ),
    "busy": (
        "Сейчас слишком много сообщений. Ваше сообщение НЕ сохранено. Попробуйте через несколько минут.",
        "Too many reports right now. Your report was NOT saved. Please try again in a few minutes.",
    ),
    "full": (
        "Приём сообщений временно остановлен. Ваше сообщение НЕ сохранено. Попробуйте позже.",
        "Intake is paused for now. Your report was NOT saved. Please try again later.",
    ),
    "too_large": (
        "Слишком большой объём: файлы не приняты, сообщение НЕ сохранено.",
        "Too large: the files were not accepted and your report was NOT saved.",
    ),
    "not_saved": (
        "Сообщение НЕ сохранено. Исправьте и отправьте снова.",
        "Your report was NOT saved. Please correct it and send it again.",
    ),
    "empty": ("Напишите хотя бы что-нибудь о случившемся.", "Please tell us at least something."),
    "lang_other": ("English", "Русский"),
    "home": ("В начало", "Back to the form"),
}


def texts(lang: Lang) -> dict[str, str]:
    i = 0 if lang == "ru" else 1
    return {key: pair[i] for key, pair in _TEXTS.items()}


def lang_of(value: object) -> Lang:
    return "en" if value == "en" else "ru"
