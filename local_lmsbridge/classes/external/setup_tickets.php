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

namespace local_lmsbridge\external;

use core_external\external_api;
use core_external\external_function_parameters;
use core_external\external_multiple_structure;
use core_external\external_single_structure;
use core_external\external_value;
use local_lmsbridge\tickets;

/**
 * local_lmsbridge_setup_tickets: the ticket quiz, its Tickets category, one essay question per ticket and
 * one random slot, in one idempotent call.
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class setup_tickets extends external_api {
    /**
     * Parameters.
     *
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'courseid' => new external_value(PARAM_INT, 'Course id; 0 to find the course by courseidnumber', VALUE_DEFAULT, 0),
            'courseidnumber' => new external_value(PARAM_RAW, 'Course idnumber (session code) when courseid is 0',
                VALUE_DEFAULT, ''),
            'quizidnumber' => new external_value(PARAM_RAW, 'Course module idnumber of the ticket quiz',
                VALUE_DEFAULT, tickets::QUIZ_IDNUMBER),
            'quizname' => new external_value(PARAM_TEXT, 'Name of the quiz if it is created ("" = translated default)',
                VALUE_DEFAULT, ''),
            'timelimit' => new external_value(PARAM_INT, 'Quiz time limit in seconds if it is created, 0 = none',
                VALUE_DEFAULT, 0),
            'section' => new external_value(PARAM_INT, 'Course section number for a new quiz', VALUE_DEFAULT, 0),
            'tickets' => new external_multiple_structure(new external_single_structure([
                'number' => new external_value(PARAM_INT, 'Ticket number (1, 2, ...); the question idnumber is ticket-<number>'),
                'name' => new external_value(PARAM_TEXT, 'Question name ("" = "Ticket <number>")', VALUE_DEFAULT, ''),
                'questions' => new external_multiple_structure(
                    // PARAM_RAW: the text is plain and escaped on output, so "<" or "&" in a question is kept as typed.
                    new external_value(PARAM_RAW, 'One question of the ticket, plain text')),
            ]), 'The whole ticket bank; tickets missing from the list are hidden'),
        ]);
    }

    /**
     * Ensure the ticket quiz.
     *
     * @param int $courseid
     * @param string $courseidnumber
     * @param string $quizidnumber
     * @param string $quizname
     * @param int $timelimit
     * @param int $section
     * @param array $tickets
     * @return array
     */
    public static function execute(int $courseid, string $courseidnumber, string $quizidnumber, string $quizname,
            int $timelimit, int $section, array $tickets): array {
        global $DB;
        $params = self::validate_parameters(self::execute_parameters(), [
            'courseid' => $courseid, 'courseidnumber' => $courseidnumber, 'quizidnumber' => $quizidnumber,
            'quizname' => $quizname, 'timelimit' => $timelimit, 'section' => $section, 'tickets' => $tickets,
        ]);
        $course = tickets::find_course($params['courseid'], $params['courseidnumber']);
        $coursecontext = \context_course::instance($course->id);
        self::validate_context($coursecontext);
        require_capability('local/lmsbridge:managetickets', $coursecontext);
        tickets::validate_tickets($params['tickets']);
        if ($params['quizidnumber'] === '') {
            throw new \invalid_parameter_exception('quizidnumber must not be empty');
        }

        // All or nothing: a failure half-way leaves no quiz without its slot or category without questions.
        $transaction = $DB->start_delegated_transaction();
        [$cm, $quizcreated] = tickets::ensure_quiz($course, $params['quizidnumber'], $params['quizname'],
            $params['timelimit'], $params['section']);
        $quizcontext = \context_module::instance($cm->id);
        [$category, $categorycreated] = tickets::ensure_category($quizcontext);
        $questions = tickets::ensure_questions($category, $params['tickets']);
        [$slot, $slotcreated] = tickets::ensure_slot($cm, $category);
        // Closed to everyone: a student reaches a ticket only when admitted to the draw (open_ticket).
        $quizclosed = \local_lmsbridge\examroom::close_quiz($cm);
        \local_lmsbridge\examroom::manage_course((int)$course->id);
        $transaction->allow_commit();

        $changed = $quizcreated || $categorycreated || $slotcreated || $quizclosed;
        foreach ($questions as $question) {
            $changed = $changed || $question['status'] !== 'unchanged';
        }
        return [
            'courseid' => (int)$course->id,
            'cmid' => (int)$cm->id,
            'quizid' => (int)$cm->instance,
            'quizcreated' => $quizcreated,
            'categoryid' => (int)$category->id,
            'categorycontextid' => (int)$category->contextid,
            'categorycreated' => $categorycreated,
            'slotid' => (int)$slot->id,
            'slot' => (int)$slot->slot,
            'slotcreated' => $slotcreated,
            'changed' => $changed,
            'tickets' => $questions,
        ];
    }

    /**
     * Result.
     *
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'courseid' => new external_value(PARAM_INT, 'Course id'),
            'cmid' => new external_value(PARAM_INT, 'Course module id of the ticket quiz'),
            'quizid' => new external_value(PARAM_INT, 'Quiz instance id'),
            'quizcreated' => new external_value(PARAM_BOOL, 'Whether the quiz was created by this call'),
            'categoryid' => new external_value(PARAM_INT, 'Tickets question category id'),
            'categorycontextid' => new external_value(PARAM_INT, 'Context id of that category'),
            'categorycreated' => new external_value(PARAM_BOOL, 'Whether the category was created by this call'),
            'slotid' => new external_value(PARAM_INT, 'quiz_slots id of the random ticket slot'),
            'slot' => new external_value(PARAM_INT, 'Slot number of the random ticket slot'),
            'slotcreated' => new external_value(PARAM_BOOL, 'Whether the slot was created by this call'),
            'changed' => new external_value(PARAM_BOOL, 'Whether anything changed'),
            'tickets' => new external_multiple_structure(new external_single_structure([
                'number' => new external_value(PARAM_INT, 'Ticket number'),
                'idnumber' => new external_value(PARAM_RAW, 'Question bank entry idnumber, ticket-<number>'),
                'questionid' => new external_value(PARAM_INT, 'Question id of the current version'),
                'questionbankentryid' => new external_value(PARAM_INT, 'Question bank entry id'),
                'status' => new external_value(PARAM_ALPHA, 'created, updated, unchanged or hidden'),
            ])),
        ]);
    }
}
