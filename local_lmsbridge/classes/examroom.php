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
 * The exam room: the ticket quiz is closed to everyone, and opens for one student at a time when the
 * secretary admits that student to the draw, with the ticket the bridge's verifiable draw gave.
 *
 * Moodle never picks a ticket on its own: the attempt is started here, on the student's behalf, with the
 * drawn ticket forced into the random slot (quiz_prepare_and_start_new_attempt() accepts, per slot, the
 * question to use), and the quiz allows one attempt, so the student can only continue that attempt.
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class examroom {
    /** Plugin setting holding the ids of the courses the bridge manages, comma separated. */
    const MANAGED_SETTING = 'managedcourses';

    /**
     * Remember that the bridge manages a course: only such courses' events are posted to it.
     *
     * @param int $courseid
     */
    public static function manage_course(int $courseid): void {
        $ids = self::managed_courses();
        if (!in_array($courseid, $ids, true)) {
            $ids[] = $courseid;
            sort($ids);
            set_config(self::MANAGED_SETTING, implode(',', $ids), 'local_lmsbridge');
        }
    }

    /**
     * The ids of the courses the bridge manages.
     *
     * @return int[]
     */
    public static function managed_courses(): array {
        $raw = (string)get_config('local_lmsbridge', self::MANAGED_SETTING);
        return array_values(array_filter(array_map('intval', explode(',', $raw))));
    }

    /**
     * Whether events of a course may be posted: the bridge manages it.
     *
     * @param int $courseid
     * @return bool
     */
    public static function is_managed(int $courseid): bool {
        return $courseid > 0 && in_array($courseid, self::managed_courses(), true);
    }

    /**
     * Close the ticket quiz to everyone (its own open and close times); admitted students get a user override.
     *
     * A quiz already closed is left alone, so a second provisioning run changes nothing.
     *
     * @param \stdClass $cm course module of the quiz
     * @return bool whether the quiz was changed
     */
    public static function close_quiz(\stdClass $cm): bool {
        global $CFG, $DB;
        require_once($CFG->dirroot . '/mod/quiz/lib.php');
        $quiz = $DB->get_record('quiz', ['id' => $cm->instance], '*', MUST_EXIST);
        $now = time();
        // Closed means no open time and a close time past. Not an open time in the future: Moodle 5.x makes
        // attempts ahead of time (with questions it picks) for a quiz that opens soon (precreate_attempts).
        $closed = (int)$quiz->timeopen === 0 && $quiz->timeclose > 0 && $quiz->timeclose <= $now;
        $noprecreate = !property_exists($quiz, 'precreateattempts') || (string)$quiz->precreateattempts === '0';
        if ($closed && $noprecreate) {
            return false;
        }
        // Closed since a minute before now: the quiz page says "closed", and nobody can start an attempt.
        $quiz->timeopen = 0;
        $quiz->timeclose = $closed ? $quiz->timeclose : $now - 60;
        if (property_exists($quiz, 'precreateattempts')) {
            $quiz->precreateattempts = 0;
        }
        $quiz->timemodified = $now;
        $DB->update_record('quiz', $quiz);
        $quiz->coursemodule = $cm->id;
        $quiz->cmidnumber = $cm->idnumber;
        quiz_update_events($quiz);
        rebuild_course_cache($cm->course, true);
        return true;
    }

    /**
     * The slot number of the quiz's random slot that draws from its Tickets category.
     *
     * @param int $quizid
     * @param int $categoryid Tickets category
     * @return int slot number
     */
    public static function ticket_slot(int $quizid, int $categoryid): int {
        $slots = tickets::ticket_slots($quizid, $categoryid);
        if (!$slots) {
            throw new \moodle_exception('noticketslot', 'local_lmsbridge', '', $quizid);
        }
        return (int)reset($slots)->slot;
    }

    /**
     * The ticket question the user's attempts hold in the given slot (non-preview attempts).
     *
     * @param int $quizid
     * @param int $userid
     * @param int $slot
     * @return \stdClass[] per attempt: attemptid, state, questionid
     */
    public static function user_attempts(int $quizid, int $userid, int $slot): array {
        global $DB;
        $sql = "SELECT qa.id AS attemptid, qa.state, qa.attempt, qat.questionid
                  FROM {quiz_attempts} qa
             LEFT JOIN {question_attempts} qat ON qat.questionusageid = qa.uniqueid AND qat.slot = :slot
                 WHERE qa.quiz = :quizid AND qa.userid = :userid AND qa.preview = 0
              ORDER BY qa.attempt";
        return array_values($DB->get_records_sql($sql, ['quizid' => $quizid, 'userid' => $userid, 'slot' => $slot]));
    }

    /**
     * Open the ticket quiz for one admitted student and start the attempt with the drawn ticket.
     *
     * Idempotent: called again for the same student and ticket it returns the attempt already started; an
     * attempt with another ticket is an error, never replaced.
     *
     * @param int $quizid
     * @param int $userid
     * @param int $ticketnumber the ticket of the bridge's draw
     * @param int $timeopen start of the student's window (unix seconds)
     * @param int $timeclose end of the student's window
     * @return array attemptid, overrideid, questionid, slot, created, state
     */
    public static function open_ticket(int $quizid, int $userid, int $ticketnumber, int $timeopen,
            int $timeclose): array {
        global $CFG, $DB;
        require_once($CFG->dirroot . '/mod/quiz/locallib.php');
        $quizobj = \mod_quiz\quiz_settings::create($quizid, $userid);
        $context = $quizobj->get_context();
        $cm = $quizobj->get_cm();
        $category = tickets::find_category($context);
        if (!$category) {
            throw new \moodle_exception('notaticketquiz', 'local_lmsbridge', '', $quizid);
        }
        // Only a student whose enrolment is active: a student no longer admitted is suspended and draws nothing.
        if (!is_enrolled($context, $userid, 'mod/quiz:attempt', true)) {
            throw new \moodle_exception('notenrolledactive', 'local_lmsbridge', '', $userid);
        }
        $idnumber = tickets::QUESTION_PREFIX . $ticketnumber;
        $current = tickets::category_tickets((int)$category->id)[$idnumber] ?? null;
        if (!$current || $current->status !== \core_question\local\bank\question_version_status::QUESTION_STATUS_READY) {
            throw new \moodle_exception('ticketnotfound', 'local_lmsbridge', '', $ticketnumber);
        }
        $questionid = (int)$current->questionid;
        $slot = self::ticket_slot($quizid, (int)$category->id);

        $transaction = $DB->start_delegated_transaction();
        // Moodle 5.x may have made an attempt ahead of time (state notstarted) with a question it picked; the
        // student has not seen it, so it goes, and the attempt begins with the drawn ticket.
        foreach ($DB->get_records('quiz_attempts', ['quiz' => $quizid, 'userid' => $userid, 'state' => 'notstarted']) as $ready) {
            quiz_delete_attempt($ready, $quizobj->get_quiz());
        }
        // The quiz's own settings, not the user's effective ones: the override manager drops every value equal
        // to the quiz it is given, and with the user's override applied it would drop them all.
        $overrideid = self::save_override(\mod_quiz\quiz_settings::create($quizid), $userid, $timeopen, $timeclose);
        $attempts = self::user_attempts($quizid, $userid, $slot);
        $created = false;
        if ($attempts) {
            $attempt = end($attempts);
            $entry = (int)$DB->get_field('question_versions', 'questionbankentryid', ['questionid' => $attempt->questionid]);
            if ($entry !== (int)$current->entryid) {
                throw new \moodle_exception('ticketmismatch', 'local_lmsbridge', '', (object)[
                    'attemptid' => $attempt->attemptid, 'ticket' => $ticketnumber]);
            }
            $attemptid = (int)$attempt->attemptid;
            $state = (string)$attempt->state;
            $questionid = (int)$attempt->questionid;
        } else {
            // The one place an attempt at the ticket quiz begins: with the drawn ticket in the ticket slot.
            $attempt = quiz_prepare_and_start_new_attempt($quizobj, 1, null, false, [$slot => $questionid], [], $userid);
            $attemptid = (int)$attempt->id;
            $state = (string)$attempt->state;
            $created = true;
        }
        $transaction->allow_commit();
        return [
            'quizid' => $quizid,
            'cmid' => (int)$cm->id,
            'userid' => $userid,
            'ticketnumber' => $ticketnumber,
            'questionid' => $questionid,
            'slot' => $slot,
            'attemptid' => $attemptid,
            'state' => $state,
            'created' => $created,
            'overrideid' => $overrideid,
            'timeopen' => $timeopen,
            'timeclose' => $timeclose,
        ];
    }

    /**
     * Create or update the student's user override: open from $timeopen to $timeclose, one attempt.
     *
     * @param \mod_quiz\quiz_settings $quizobj
     * @param int $userid
     * @param int $timeopen
     * @param int $timeclose
     * @return int override id
     */
    public static function save_override(\mod_quiz\quiz_settings $quizobj, int $userid, int $timeopen,
            int $timeclose): int {
        global $DB;
        $existing = $DB->get_record('quiz_overrides', ['quiz' => $quizobj->get_quizid(), 'userid' => $userid]);
        // attempts = 1 is stored as null: the manager keeps only values that differ from the quiz (one attempt).
        if ($existing && (int)$existing->timeopen === $timeopen && (int)$existing->timeclose === $timeclose) {
            return (int)$existing->id;
        }
        $data = ['userid' => $userid, 'timeopen' => $timeopen, 'timeclose' => $timeclose, 'attempts' => 1];
        if ($existing) {
            $data['id'] = (int)$existing->id;
        }
        return $quizobj->get_override_manager()->save_override($data);
    }
}
