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

namespace local_lmsbridge;

/**
 * Event observers that turn quiz attempts and assignment submissions into webhook deliveries.
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class observer {
    /**
     * A student started a quiz attempt (the random ticket is already drawn at this point).
     *
     * @param \mod_quiz\event\attempt_started $event
     */
    public static function quiz_attempt_started(\mod_quiz\event\attempt_started $event): void {
        self::quiz_attempt('quiz_attempt_started', $event);
    }

    /**
     * A quiz attempt was submitted (by the student, a teacher, or cron at the time limit).
     *
     * @param \mod_quiz\event\attempt_submitted $event
     */
    public static function quiz_attempt_submitted(\mod_quiz\event\attempt_submitted $event): void {
        self::quiz_attempt('quiz_attempt_submitted', $event);
    }

    /**
     * An assignment submission was submitted for grading (or saved, when drafts are off).
     *
     * @param \mod_assign\event\assessable_submitted $event
     */
    public static function assign_submitted(\mod_assign\event\assessable_submitted $event): void {
        global $DB;
        if (!webhook::configured() || !examroom::is_managed((int)$event->courseid)) {
            return;
        }
        $submission = $DB->get_record('assign_submission', ['id' => $event->objectid]);
        if (!$submission) {
            return;
        }
        $assign = $DB->get_record('assign', ['id' => $submission->assignment], 'id, submissiondrafts');
        // Group submissions have userid 0; the event's user is then the member who submitted.
        $userid = (int)($submission->userid ?: $event->userid);
        $other = [
            'assignid' => (int)$submission->assignment,
            'submissionid' => (int)$submission->id,
            'attemptnumber' => (int)$submission->attemptnumber,
            'status' => (string)$submission->status,
            'submissiondrafts' => $assign ? (bool)$assign->submissiondrafts : false,
            'timemodified' => (int)$submission->timemodified,
            'groupid' => (int)$submission->groupid,
        ];
        webhook::queue(webhook::payload('assign_submitted', $event, $userid, (int)$submission->id, $other));
    }

    /**
     * Shared payload for both quiz attempt events.
     *
     * @param string $name short event name
     * @param \core\event\base $event
     */
    private static function quiz_attempt(string $name, \core\event\base $event): void {
        global $DB;
        if (!webhook::configured() || !examroom::is_managed((int)$event->courseid)) {
            return;
        }
        $attempt = $DB->get_record('quiz_attempts', ['id' => $event->objectid]);
        if (!$attempt) {
            return;
        }
        $data = $event->get_data();
        $submitted = $name === 'quiz_attempt_submitted';
        $other = [
            'quizid' => (int)$attempt->quiz,
            'attempt' => (int)$attempt->attempt,
            'state' => (string)$attempt->state,
            'timestart' => (int)$attempt->timestart,
            'timefinish' => (int)$attempt->timefinish,
            'submitterid' => $submitted && isset($data['other']['submitterid']) ? (int)$data['other']['submitterid'] : null,
            'studentisonline' => $submitted && isset($data['other']['studentisonline'])
                ? (bool)$data['other']['studentisonline'] : null,
            'ticket' => tickets::drawn_ticket((int)$attempt->uniqueid),
        ];
        webhook::queue(webhook::payload($name, $event, (int)$attempt->userid, (int)$attempt->id, $other));
    }
}
