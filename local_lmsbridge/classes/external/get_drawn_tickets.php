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
 * local_lmsbridge_get_drawn_tickets: which ticket each attempt of a quiz drew (core web services only show
 * the question text of an attempt, never which question it is).
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class get_drawn_tickets extends external_api {
    /**
     * Parameters.
     *
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'quizid' => new external_value(PARAM_INT, 'Quiz instance id'),
            'userid' => new external_value(PARAM_INT, 'Only this user\'s attempts; 0 = everyone', VALUE_DEFAULT, 0),
            'includepreviews' => new external_value(PARAM_BOOL, 'Include teacher previews', VALUE_DEFAULT, false),
        ]);
    }

    /**
     * List the attempts with their drawn ticket.
     *
     * @param int $quizid
     * @param int $userid
     * @param bool $includepreviews
     * @return array
     */
    public static function execute(int $quizid, int $userid = 0, bool $includepreviews = false): array {
        global $DB;
        $params = self::validate_parameters(self::execute_parameters(),
            ['quizid' => $quizid, 'userid' => $userid, 'includepreviews' => $includepreviews]);
        $quiz = $DB->get_record('quiz', ['id' => $params['quizid']], '*', MUST_EXIST);
        $cm = get_coursemodule_from_instance('quiz', $quiz->id, $quiz->course, false, MUST_EXIST);
        $context = \context_module::instance($cm->id);
        self::validate_context($context);
        require_capability('local/lmsbridge:viewdrawntickets', $context);

        $where = 'quiz = :quizid';
        $sqlparams = ['quizid' => $quiz->id];
        if ($params['userid']) {
            $where .= ' AND userid = :userid';
            $sqlparams['userid'] = $params['userid'];
        }
        if (!$params['includepreviews']) {
            $where .= ' AND preview = 0';
        }
        $attempts = [];
        foreach ($DB->get_records_select('quiz_attempts', $where, $sqlparams, 'userid, attempt') as $attempt) {
            $ticket = tickets::drawn_ticket((int)$attempt->uniqueid);
            $attempts[] = [
                'attemptid' => (int)$attempt->id,
                'userid' => (int)$attempt->userid,
                'attempt' => (int)$attempt->attempt,
                'state' => (string)$attempt->state,
                'preview' => (bool)$attempt->preview,
                'timestart' => (int)$attempt->timestart,
                'timefinish' => (int)$attempt->timefinish,
                'ticketnumber' => $ticket ? $ticket['number'] : 0,
                'ticketidnumber' => $ticket ? $ticket['idnumber'] : '',
                'questionid' => $ticket ? $ticket['questionid'] : 0,
            ];
        }
        return ['quizid' => (int)$quiz->id, 'cmid' => (int)$cm->id, 'attempts' => $attempts];
    }

    /**
     * Result.
     *
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'quizid' => new external_value(PARAM_INT, 'Quiz instance id'),
            'cmid' => new external_value(PARAM_INT, 'Course module id'),
            'attempts' => new external_multiple_structure(new external_single_structure([
                'attemptid' => new external_value(PARAM_INT, 'quiz_attempts id'),
                'userid' => new external_value(PARAM_INT, 'Student user id'),
                'attempt' => new external_value(PARAM_INT, 'Attempt number'),
                'state' => new external_value(PARAM_ALPHA, 'inprogress, overdue, finished, abandoned (5.x also notstarted, submitted)'),
                'preview' => new external_value(PARAM_BOOL, 'Teacher preview'),
                'timestart' => new external_value(PARAM_INT, 'Unix seconds'),
                'timefinish' => new external_value(PARAM_INT, 'Unix seconds, 0 if not finished'),
                'ticketnumber' => new external_value(PARAM_INT, 'Drawn ticket number, 0 if no ticket question'),
                'ticketidnumber' => new external_value(PARAM_RAW, 'Drawn question idnumber ticket-<n>, "" if none'),
                'questionid' => new external_value(PARAM_INT, 'Question id (the version drawn), 0 if none'),
            ])),
        ]);
    }
}
