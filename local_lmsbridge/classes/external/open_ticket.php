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
use core_external\external_single_structure;
use core_external\external_value;
use local_lmsbridge\examroom;

/**
 * local_lmsbridge_open_ticket: admit one student to the draw in Moodle. Opens the closed ticket quiz for that
 * student alone (a user override) and starts the student's attempt with the ticket of the bridge's draw.
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class open_ticket extends external_api {
    /**
     * Parameters.
     *
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'quizid' => new external_value(PARAM_INT, 'Ticket quiz instance id'),
            'userid' => new external_value(PARAM_INT, 'The admitted student'),
            'ticketnumber' => new external_value(PARAM_INT, 'The ticket the verifiable draw gave the student'),
            'timeopen' => new external_value(PARAM_INT, 'When the student\'s window opens (unix seconds)'),
            'timeclose' => new external_value(PARAM_INT, 'When the student\'s window closes (unix seconds)'),
        ]);
    }

    /**
     * Open the ticket.
     *
     * @param int $quizid
     * @param int $userid
     * @param int $ticketnumber
     * @param int $timeopen
     * @param int $timeclose
     * @return array
     */
    public static function execute(int $quizid, int $userid, int $ticketnumber, int $timeopen, int $timeclose): array {
        $params = self::validate_parameters(self::execute_parameters(), [
            'quizid' => $quizid, 'userid' => $userid, 'ticketnumber' => $ticketnumber,
            'timeopen' => $timeopen, 'timeclose' => $timeclose,
        ]);
        $cm = get_coursemodule_from_instance('quiz', $params['quizid'], 0, false, MUST_EXIST);
        $context = \context_module::instance($cm->id);
        self::validate_context($context);
        require_capability('local/lmsbridge:admit', $context);
        if ($params['timeclose'] <= $params['timeopen']) {
            throw new \moodle_exception('closebeforeopen', 'quiz');
        }
        examroom::manage_course((int)$cm->course);
        return examroom::open_ticket($params['quizid'], $params['userid'], $params['ticketnumber'],
            $params['timeopen'], $params['timeclose']);
    }

    /**
     * Result.
     *
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'quizid' => new external_value(PARAM_INT, 'Quiz instance id'),
            'cmid' => new external_value(PARAM_INT, 'Course module id of the quiz'),
            'userid' => new external_value(PARAM_INT, 'The student'),
            'ticketnumber' => new external_value(PARAM_INT, 'The ticket in the attempt'),
            'questionid' => new external_value(PARAM_INT, 'The ticket question in the attempt'),
            'slot' => new external_value(PARAM_INT, 'The ticket slot'),
            'attemptid' => new external_value(PARAM_INT, 'The student\'s attempt'),
            'state' => new external_value(PARAM_ALPHA, 'State of the attempt (inprogress, finished, ...)'),
            'created' => new external_value(PARAM_BOOL, 'Whether this call started the attempt'),
            'overrideid' => new external_value(PARAM_INT, 'The student\'s quiz override'),
            'timeopen' => new external_value(PARAM_INT, 'Window opens'),
            'timeclose' => new external_value(PARAM_INT, 'Window closes'),
        ]);
    }
}
