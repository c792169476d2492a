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
 * Language strings for local_lmsbridge (kk).
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$string['bridgeurl'] = 'lms_bridge вебхугының URL мекенжайы';
$string['bridgeurl_desc'] = 'Тест пен тапсырма оқиғалары жіберілетін толық URL, әдетте https://&lt;lms_bridge хосты&gt;/webhooks/moodle. Бос қалдырсаңыз, ештеңе жіберілмейді.';
$string['coursenotfound'] = 'Идентификаторы {$a->id} немесе ID нөмірі «{$a->idnumber}» курс табылмады.';
$string['duplicateticket'] = '{$a} билет нөмірі бірнеше рет кездеседі.';
$string['emptyticket'] = '{$a} билетінде сұрақ жоқ.';
$string['invalidtestquestion'] = '{$a} тест сұрағында мәтін және кемінде екі жауап болуы керек, олардың дәл біреуі дұрыс, әрі өз idnumber мәні болуы керек.';
$string['invalidticketnumber'] = 'Билет нөмірі оң бүтін сан болуы керек, {$a} емес.';
$string['lmsbridge:admit'] = 'Білім алушыны билет тартуға жіберу: билет тестін тартылған билетпен ашу';
$string['lmsbridge:managetickets'] = 'Билет тестін және комиссия нәтижесі тапсырмасын жасау';
$string['lmsbridge:viewdrawntickets'] = 'Әр әрекетте қай билет түскенін көру';
$string['notaticketquiz'] = '{$a} тестінде lms_bridge жасаған «Билеттер» сұрақ санаты жоқ.';
$string['notenoughquestions'] = 'Сұрақтар банкінде {$a->have} сұрақ бар; тест кездейсоқ {$a->need} сұрақ алады, сондықтан кемінде сонша керек.';
$string['notenrolledactive'] = '{$a} пайдаланушысы курстың белсенді білім алушысы емес (тіркелмеген немесе тіркелуі тоқтатылған): билет ашылмайды.';
$string['noticketslot'] = '{$a} тестінде «Билеттер» санатынан алатын кездейсоқ орын жоқ.';
$string['pluginname'] = 'lms_bridge серіктес плагині';
$string['privacy:metadata:lmsbridge'] = 'lms_bridge басқаратын курста білім алушы тест әрекетін бастағанда не тапсырғанда немесе тапсырма жібергенде, плагин осы мәліметтерді әкімші баптаған lms_bridge қызметіне жібереді.';
$string['privacy:metadata:lmsbridge:courseid'] = 'Тест немесе тапсырма курсы.';
$string['privacy:metadata:lmsbridge:objectid'] = 'Тест әрекеті немесе тапсырма жіберілімі.';
$string['privacy:metadata:lmsbridge:other'] = 'Әрекеттің не жіберілімнің күйі мен уақыты және әрекетте түскен билет.';
$string['privacy:metadata:lmsbridge:useremail'] = 'Студенттің электрондық поштасы.';
$string['privacy:metadata:lmsbridge:userid'] = 'Студенттің пайдаланушы id-і.';
$string['privacy:metadata:lmsbridge:useridnumber'] = 'Студенттің ID нөмірі.';
$string['privacy:metadata:task_adhoc'] = 'lms_bridge қабылдағанын растағанша, әрбір хабарлама Moodle тапсырмалар кезегінде осы плагиннің тапсырмасы ретінде күтеді.';
$string['privacy:metadata:task_adhoc:customdata'] = 'Жіберілуді күтіп тұрған хабарлама: lms_bridge қызметіне арналған жоғарыда аталған мәліметтер.';
$string['privacy:path:pending'] = 'lms_bridge-ке жіберілуді күтіп тұрған хабарламалар';
$string['quizhasattempts'] = 'Тестте әрекеттер бар, сондықтан билет сұрағының орнын қазір қосу мүмкін емес. Әрекеттерді жойыңыз немесе жаңа тест пайдаланыңыз.';
$string['resultassignment'] = 'Комиссия шешімі';
$string['resultassignment_intro'] = 'Аттестаттау комиссиясының шешімі, lms_bridge жазады.';
$string['secret'] = 'Вебхук қолтаңба құпиясы';
$string['secret_desc'] = 'X-LmsBridge-Signature HMAC-SHA256 тақырыбына арналған ортақ құпия. Ол lms_bridge-тегі moodle.webhook_secret баптауына тең болуы керек. Бос болса, ештеңе жіберілмейді.';
$string['taskpostwebhook'] = 'Оқиғаны lms_bridge-ке жіберу';
$string['ticketcategory'] = 'Билеттер';
$string['ticketcategory_info'] = 'lms_bridge жасаған әр емтихан билетіне бір эссе сұрағы. Билет тесті әр әрекетке солардың бірін кездейсоқ таңдайды.';
$string['ticketmismatch'] = 'Білім алушының {$a->ticket} билетінен басқа билетпен {$a->attemptid} әрекеті бар; ол ешқашан ауыстырылмайды.';
$string['ticketname'] = '№ {$a} билет';
$string['ticketnotfound'] = '{$a} билеті «Билеттер» санатында тартуға болатын сұрақ емес.';
$string['ticketquiz'] = 'Емтихан билеті';
$string['ticketquiz_intro'] = 'Емтихан билетіңізді алу үшін әрекетті бастаңыз.';
$string['webhookfailed'] = 'lms_bridge вебхукты қабылдамады (HTTP {$a->status}{$a->error}); қайта жіберіледі.';
$string['webhooknotconfigured'] = 'lms_bridge вебхук URL мекенжайы немесе қолтаңба құпиясы орнатылмаған (Сайт әкімшілігі > Плагиндер > Жергілікті плагиндер > lms_bridge серіктес плагині).';
