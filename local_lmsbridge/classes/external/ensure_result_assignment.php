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
use local_lmsbridge\tickets;

/**
 * local_lmsbridge_ensure_result_assignment: the "Commission result" assignment whose grade carries the
 * commission's decision into the gradebook (written with mod_assign_save_grade). Idempotent by idnumber.
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class ensure_result_assignment extends external_api {
    /** Default course module idnumber of the result assignment. */
    const IDNUMBER = 'lmsbridge-result';

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
            'idnumber' => new external_value(PARAM_RAW, 'Course module idnumber', VALUE_DEFAULT, self::IDNUMBER),
            'name' => new external_value(PARAM_TEXT, 'Name if created ("" = translated "Commission result")',
                VALUE_DEFAULT, ''),
            'grademax' => new external_value(PARAM_INT, 'Maximum grade if created', VALUE_DEFAULT, 100),
            'markingworkflow' => new external_value(PARAM_BOOL, 'Use marking workflow if created', VALUE_DEFAULT, false),
            'section' => new external_value(PARAM_INT, 'Course section number if created', VALUE_DEFAULT, 0),
        ]);
    }

    /**
     * Ensure the assignment.
     *
     * @param int $courseid
     * @param string $courseidnumber
     * @param string $idnumber
     * @param string $name
     * @param int $grademax
     * @param bool $markingworkflow
     * @param int $section
     * @return array
     */
    public static function execute(int $courseid, string $courseidnumber, string $idnumber, string $name,
            int $grademax, bool $markingworkflow, int $section): array {
        global $CFG, $DB;
        require_once($CFG->dirroot . '/course/modlib.php');
        require_once($CFG->libdir . '/gradelib.php');
        $params = self::validate_parameters(self::execute_parameters(), [
            'courseid' => $courseid, 'courseidnumber' => $courseidnumber, 'idnumber' => $idnumber, 'name' => $name,
            'grademax' => $grademax, 'markingworkflow' => $markingworkflow, 'section' => $section,
        ]);
        $course = tickets::find_course($params['courseid'], $params['courseidnumber']);
        $coursecontext = \context_course::instance($course->id);
        self::validate_context($coursecontext);
        require_capability('local/lmsbridge:managetickets', $coursecontext);
        // The bridge manages this course from now on: its submissions are posted to the bridge.
        \local_lmsbridge\examroom::manage_course((int)$course->id);
        if ($params['idnumber'] === '' || $params['grademax'] < 1) {
            throw new \invalid_parameter_exception('idnumber must not be empty and grademax must be at least 1');
        }

        $created = false;
        $cm = tickets::find_cm($course->id, 'assign', $params['idnumber']);
        if (!$cm) {
            require_capability('moodle/course:manageactivities', $coursecontext);
            require_capability('mod/assign:addinstance', $coursecontext);
            $info = (object)[
                'modulename' => 'assign',
                'module' => $DB->get_field('modules', 'id', ['name' => 'assign'], MUST_EXIST),
                'course' => $course->id,
                'section' => $params['section'],
                'visible' => 1,
                'visibleoncoursepage' => 1,
                'cmidnumber' => $params['idnumber'],
                'groupmode' => 0,
                'groupingid' => 0,
                'availability' => null,
                'completion' => 0,
                'name' => $params['name'] !== '' ? $params['name'] : get_string('resultassignment', 'local_lmsbridge'),
                'intro' => get_string('resultassignment_intro', 'local_lmsbridge'),
                'introformat' => FORMAT_HTML,
                'alwaysshowdescription' => 1,
                'submissiondrafts' => 0,
                'requiresubmissionstatement' => 0,
                'sendnotifications' => 0,
                'sendlatenotifications' => 0,
                'sendstudentnotifications' => 0,
                'duedate' => 0,
                'allowsubmissionsfromdate' => 0,
                'cutoffdate' => 0,
                'gradingduedate' => 0,
                'grade' => $params['grademax'],
                'teamsubmission' => 0,
                'requireallteammemberssubmit' => 0,
                'teamsubmissiongroupingid' => 0,
                'blindmarking' => 0,
                'attemptreopenmethod' => 'untilpass',
                'maxattempts' => 1,
                'markingworkflow' => $params['markingworkflow'] ? 1 : 0,
                'markingallocation' => 0,
                'markinganonymous' => 0,
                'activityformat' => 0,
                'timelimit' => 0,
                'submissionattachments' => 0,
                // Students submit nothing here; only the commission's grade and comment are recorded.
                'assignsubmission_onlinetext_enabled' => 0,
                'assignsubmission_file_enabled' => 0,
                'assignsubmission_comments_enabled' => 0,
                'assignfeedback_comments_enabled' => 1,
                'assignfeedback_file_enabled' => 0,
                'assignfeedback_editpdf_enabled' => 0,
                'assignfeedback_offline_enabled' => 0,
            ];
            $info = add_moduleinfo($info, $course);
            $cm = $DB->get_record('course_modules', ['id' => $info->coursemodule], '*', MUST_EXIST);
            $created = true;
        }
        $assign = $DB->get_record('assign', ['id' => $cm->instance], '*', MUST_EXIST);
        $item = \grade_item::fetch(['itemtype' => 'mod', 'itemmodule' => 'assign', 'iteminstance' => $assign->id,
            'itemnumber' => 0, 'courseid' => $course->id]);
        return [
            'courseid' => (int)$course->id,
            'cmid' => (int)$cm->id,
            'assignid' => (int)$assign->id,
            'created' => $created,
            'grademax' => $item ? (float)$item->grademax : (float)$assign->grade,
            'gradeitemid' => $item ? (int)$item->id : 0,
            'markingworkflow' => (bool)$assign->markingworkflow,
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
            'cmid' => new external_value(PARAM_INT, 'Course module id'),
            'assignid' => new external_value(PARAM_INT, 'Assignment instance id (mod_assign_save_grade assignmentid)'),
            'created' => new external_value(PARAM_BOOL, 'Whether it was created by this call'),
            'grademax' => new external_value(PARAM_FLOAT, 'Maximum grade of its grade item (a higher grade is ignored)'),
            'gradeitemid' => new external_value(PARAM_INT, 'Grade item id'),
            'markingworkflow' => new external_value(PARAM_BOOL, 'Grades reach the gradebook only when released'),
        ]);
    }
}
