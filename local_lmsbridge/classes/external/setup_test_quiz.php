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
use local_lmsbridge\testquiz;
use local_lmsbridge\tickets;

/**
 * local_lmsbridge_setup_test_quiz: a test exam's quiz, its Test category, one multiple-choice question per bank
 * entry and the random slots drawing from it, in one idempotent call.  The quiz is created closed.
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class setup_test_quiz extends external_api {
    /**
     * Parameters.
     *
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'courseid' => new external_value(PARAM_INT, 'Course id'),
            'quizidnumber' => new external_value(PARAM_RAW, 'Course module idnumber of the test quiz',
                VALUE_DEFAULT, 'lmsbridge-test'),
            'quizname' => new external_value(PARAM_TEXT, 'Name of the quiz if it is created'),
            'intro' => new external_value(PARAM_RAW, 'Plain-text description if it is created', VALUE_DEFAULT, ''),
            'timelimit' => new external_value(PARAM_INT, 'Time limit in seconds'),
            'attempts' => new external_value(PARAM_INT, 'Attempts allowed', VALUE_DEFAULT, 1),
            'questioncount' => new external_value(PARAM_INT, 'Random questions per attempt'),
            'mark' => new external_value(PARAM_INT, 'Mark of each question', VALUE_DEFAULT, 1),
            'questions' => new external_multiple_structure(new external_single_structure([
                'idnumber' => new external_value(PARAM_RAW, 'Question bank entry idnumber'),
                'name' => new external_value(PARAM_TEXT, 'Question name'),
                // PARAM_RAW: plain text, escaped on output.
                'text' => new external_value(PARAM_RAW, 'Question text, plain'),
                'answers' => new external_multiple_structure(new external_single_structure([
                    'text' => new external_value(PARAM_RAW, 'Answer, plain text'),
                    'correct' => new external_value(PARAM_BOOL, 'The right answer'),
                ])),
            ]), 'The whole bank; questions missing from the list are hidden'),
        ]);
    }

    /**
     * Ensure the test quiz.
     *
     * @param int $courseid
     * @param string $quizidnumber
     * @param string $quizname
     * @param string $intro
     * @param int $timelimit
     * @param int $attempts
     * @param int $questioncount
     * @param int $mark
     * @param array $questions
     * @return array
     */
    public static function execute(int $courseid, string $quizidnumber, string $quizname, string $intro,
            int $timelimit, int $attempts, int $questioncount, int $mark, array $questions): array {
        global $DB;
        $params = self::validate_parameters(self::execute_parameters(), [
            'courseid' => $courseid, 'quizidnumber' => $quizidnumber, 'quizname' => $quizname, 'intro' => $intro,
            'timelimit' => $timelimit, 'attempts' => $attempts, 'questioncount' => $questioncount, 'mark' => $mark,
            'questions' => $questions,
        ]);
        $course = tickets::find_course($params['courseid'], '');
        $coursecontext = \context_course::instance($course->id);
        self::validate_context($coursecontext);
        require_capability('local/lmsbridge:managetickets', $coursecontext);
        testquiz::validate($params['questions'], $params['questioncount']);

        $transaction = $DB->start_delegated_transaction();
        [$cm, $quizcreated] = testquiz::ensure_quiz($course, $params['quizidnumber'], $params['quizname'],
            $params['intro'], $params['timelimit'], $params['attempts']);
        [$category, $categorycreated] = testquiz::ensure_category(\context_module::instance($cm->id));
        [$count, $questionschanged] = testquiz::ensure_questions($category, $params['questions']);
        [$slots, $slotschanged] = testquiz::ensure_slots($cm, $category, $params['questioncount'],
            (float)$params['mark']);
        $transaction->allow_commit();
        return [
            'courseid' => (int)$course->id,
            'cmid' => (int)$cm->id,
            'quizid' => (int)$cm->instance,
            'categoryid' => (int)$category->id,
            'questions' => $count,
            'slots' => $slots,
            'changed' => $quizcreated || $categorycreated || $questionschanged || $slotschanged,
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
            'cmid' => new external_value(PARAM_INT, 'Course module id of the test quiz'),
            'quizid' => new external_value(PARAM_INT, 'Quiz instance id'),
            'categoryid' => new external_value(PARAM_INT, 'Test question category id'),
            'questions' => new external_value(PARAM_INT, 'Questions that may be drawn'),
            'slots' => new external_value(PARAM_INT, 'Random slots of the quiz'),
            'changed' => new external_value(PARAM_BOOL, 'Whether anything changed'),
        ]);
    }
}
