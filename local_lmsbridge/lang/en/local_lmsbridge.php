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
 * Language strings for local_lmsbridge (en).
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$string['bridgeurl'] = 'Bridge webhook URL';
$string['bridgeurl_desc'] = 'Full URL the quiz and assignment events are posted to, normally https://&lt;lms_bridge host&gt;/webhooks/moodle. Leave empty to post nothing.';
$string['coursenotfound'] = 'No course with id {$a->id} or idnumber "{$a->idnumber}".';
$string['duplicateticket'] = 'Ticket number {$a} appears more than once.';
$string['emptyticket'] = 'Ticket {$a} has no questions.';
$string['invalidtestquestion'] = 'Test question {$a} needs a text and two answers or more, exactly one of them right, and an idnumber of its own.';
$string['invalidticketnumber'] = 'Ticket numbers must be positive integers, not {$a}.';
$string['lmsbridge:admit'] = 'Admit a student to the draw: open the ticket quiz for the student with the drawn ticket';
$string['lmsbridge:managetickets'] = 'Create the ticket quiz and the commission result assignment';
$string['lmsbridge:viewdrawntickets'] = 'See which ticket each attempt drew';
$string['notaticketquiz'] = 'Quiz {$a} has no Tickets question category made by lms_bridge.';
$string['notenoughquestions'] = 'The question bank has {$a->have} questions; the test draws {$a->need} at random, so it needs at least that many.';
$string['notenrolledactive'] = 'User {$a} is not an active student of the course (not enrolled, or the enrolment is suspended): no ticket is opened.';
$string['noticketslot'] = 'Quiz {$a} has no random slot drawing from its Tickets category.';
$string['pluginname'] = 'lms_bridge companion';
$string['privacy:metadata:lmsbridge'] = 'In a course lms_bridge manages, when a student starts or submits a quiz attempt or submits an assignment, the plugin sends these details to the lms_bridge service configured by the administrator.';
$string['privacy:metadata:lmsbridge:courseid'] = 'The course of the quiz or assignment.';
$string['privacy:metadata:lmsbridge:objectid'] = 'The quiz attempt or assignment submission.';
$string['privacy:metadata:lmsbridge:other'] = 'The state and times of the attempt or submission and the ticket the attempt drew.';
$string['privacy:metadata:lmsbridge:useremail'] = 'The student\'s email address.';
$string['privacy:metadata:lmsbridge:userid'] = 'The student\'s user id.';
$string['privacy:metadata:lmsbridge:useridnumber'] = 'The student\'s ID number.';
$string['privacy:metadata:task_adhoc'] = 'Until the bridge confirms it, each post waits in Moodle\'s task queue as a task of this plugin.';
$string['privacy:metadata:task_adhoc:customdata'] = 'The post waiting to be sent, with the details listed for the lms_bridge service.';
$string['privacy:path:pending'] = 'Posts waiting for lms_bridge';
$string['quizhasattempts'] = 'The quiz already has attempts, so its ticket slot cannot be added now. Delete the attempts or use a new quiz.';
$string['resultassignment'] = 'Commission result';
$string['resultassignment_intro'] = 'The attestation commission\'s decision, written by lms_bridge.';
$string['secret'] = 'Webhook signing secret';
$string['secret_desc'] = 'Shared secret for the X-LmsBridge-Signature HMAC-SHA256 header. It must equal the lms_bridge setting moodle.webhook_secret. Nothing is sent while it is empty.';
$string['taskpostwebhook'] = 'Post an event to lms_bridge';
$string['ticketcategory'] = 'Tickets';
$string['ticketcategory_info'] = 'One essay question per examination ticket, created by lms_bridge. The ticket quiz draws one of them at random for each attempt.';
$string['ticketmismatch'] = 'The student already has attempt {$a->attemptid} with another ticket than ticket {$a->ticket}; it is never replaced.';
$string['ticketname'] = 'Ticket {$a}';
$string['ticketnotfound'] = 'Ticket {$a} is not a drawable question of the Tickets category.';
$string['ticketquiz'] = 'Examination ticket';
$string['ticketquiz_intro'] = 'Start the attempt to draw your examination ticket.';
$string['webhookfailed'] = 'lms_bridge did not accept the webhook (HTTP {$a->status}{$a->error}); it will be retried.';
$string['webhooknotconfigured'] = 'The lms_bridge webhook URL or signing secret is not set (Site administration > Plugins > Local plugins > lms_bridge companion).';
