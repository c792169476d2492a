<?php
// This file is part of local_lmsbridge, the Moodle companion plugin of lms_bridge.
//
// local_lmsbridge is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.
//
// local_lmsbridge is distributed in the hope that it will be useful,
// but WITHOUT ANY WARRANTY; without even the implied warranty of
// MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
// GNU General Public License for more details.
//
// You should have received a copy of the GNU General Public License
// along with local_lmsbridge.  If not, see <https://www.gnu.org/licenses/>.

/**
 * Language strings for local_lmsbridge (ru).
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$string['bridgeurl'] = 'URL вебхука lms_bridge';
$string['bridgeurl_desc'] = 'Полный URL, на который отправляются события тестов и заданий, обычно https://&lt;хост lms_bridge&gt;/webhooks/moodle. Оставьте пустым, чтобы ничего не отправлять.';
$string['coursenotfound'] = 'Курс с идентификатором {$a->id} или ID-номером «{$a->idnumber}» не найден.';
$string['duplicateticket'] = 'Номер билета {$a} встречается более одного раза.';
$string['emptyticket'] = 'В билете {$a} нет вопросов.';
$string['invalidtestquestion'] = 'У тестового вопроса {$a} должны быть текст и не меньше двух ответов, ровно один из них верный, и собственный idnumber.';
$string['invalidticketnumber'] = 'Номер билета должен быть положительным целым числом, а не {$a}.';
$string['lmsbridge:admit'] = 'Допустить обучающегося к жеребьёвке: открыть тест с вытянутым билетом';
$string['lmsbridge:managetickets'] = 'Создавать тест с билетами и задание «Решение комиссии»';
$string['lmsbridge:viewdrawntickets'] = 'Видеть, какой билет выпал в каждой попытке';
$string['notaticketquiz'] = 'В тесте {$a} нет категории вопросов «Билеты», созданной lms_bridge.';
$string['notenoughquestions'] = 'Вопросов в банке: {$a->have}; тест выбирает случайно (вопросы): {$a->need}, поэтому нужно не меньше.';
$string['notenrolledactive'] = 'Пользователь {$a} не является активным обучающимся курса (не записан или запись приостановлена): билет не открывается.';
$string['noticketslot'] = 'В тесте {$a} нет случайного слота, берущего вопросы из категории «Билеты».';
$string['pluginname'] = 'Модуль-компаньон lms_bridge';
$string['privacy:metadata:lmsbridge'] = 'В курсе, которым управляет lms_bridge, когда обучающийся начинает или завершает попытку теста либо отправляет задание, плагин передаёт эти сведения в сервис lms_bridge, настроенный администратором.';
$string['privacy:metadata:lmsbridge:courseid'] = 'Курс теста или задания.';
$string['privacy:metadata:lmsbridge:objectid'] = 'Попытка теста или ответ на задание.';
$string['privacy:metadata:lmsbridge:other'] = 'Состояние и время попытки или ответа и билет, выпавший в попытке.';
$string['privacy:metadata:lmsbridge:useremail'] = 'Адрес электронной почты студента.';
$string['privacy:metadata:lmsbridge:userid'] = 'Идентификатор пользователя студента.';
$string['privacy:metadata:lmsbridge:useridnumber'] = 'Идентификационный номер студента.';
$string['privacy:metadata:task_adhoc'] = 'Пока lms_bridge не подтвердит приём, каждое сообщение ждёт в очереди задач Moodle как задача этого плагина.';
$string['privacy:metadata:task_adhoc:customdata'] = 'Сообщение, ожидающее отправки, с перечисленными для службы lms_bridge сведениями.';
$string['privacy:path:pending'] = 'Сообщения, ожидающие отправки в lms_bridge';
$string['quizhasattempts'] = 'В тесте уже есть попытки, поэтому слот билета сейчас добавить нельзя. Удалите попытки или используйте новый тест.';
$string['resultassignment'] = 'Решение комиссии';
$string['resultassignment_intro'] = 'Решение аттестационной комиссии, записывается lms_bridge.';
$string['secret'] = 'Секрет подписи вебхуков';
$string['secret_desc'] = 'Общий секрет для заголовка X-LmsBridge-Signature (HMAC-SHA256). Должен совпадать с настройкой moodle.webhook_secret в lms_bridge. Пока он пуст, ничего не отправляется.';
$string['taskpostwebhook'] = 'Отправить событие в lms_bridge';
$string['ticketcategory'] = 'Билеты';
$string['ticketcategory_info'] = 'Вопросы-эссе, созданные lms_bridge, — по одному на каждый экзаменационный билет. Тест с билетами выбирает один из них случайно для каждой попытки.';
$string['ticketmismatch'] = 'У обучающегося уже есть попытка {$a->attemptid} с другим билетом, не {$a->ticket}; она никогда не заменяется.';
$string['ticketname'] = 'Билет № {$a}';
$string['ticketnotfound'] = 'Билет {$a} не является доступным вопросом категории «Билеты».';
$string['ticketquiz'] = 'Экзаменационный билет';
$string['ticketquiz_intro'] = 'Начните попытку, чтобы вытянуть экзаменационный билет.';
$string['webhookfailed'] = 'lms_bridge не принял вебхук (HTTP {$a->status}{$a->error}); отправка будет повторена.';
$string['webhooknotconfigured'] = 'Не задан URL вебхука lms_bridge или секрет подписи (Администрирование > Плагины > Локальные плагины > Модуль-компаньон lms_bridge).';
