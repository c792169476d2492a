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
 * What the ticket quiz and the test quiz share: a quiz found by its course-module idnumber or created with the
 * plugin's common settings, and a question category of the quiz's own bank.
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class quizbuilder {
    /**
     * Ensure a quiz with this course-module idnumber exists in the course; create it when missing.
     *
     * The new quiz: one question per page, free navigation, autosubmit at the end of the time, deferred
     * feedback, highest grade; students may review their attempt but never see marks, correctness, feedback
     * or the right answers (the commission decides and the chair announces). $settings gives the rest (name,
     * intro, section, times, time limit, attempts, shuffling) and may replace any of these.
     *
     * @param \stdClass $course
     * @param string $idnumber course module idnumber
     * @param array $settings moduleinfo fields of this quiz
     * @return array [cm record, bool created]
     */
    public static function ensure_quiz(\stdClass $course, string $idnumber, array $settings): array {
        global $CFG, $DB;
        require_once($CFG->dirroot . '/course/modlib.php');
        require_once($CFG->dirroot . '/mod/quiz/lib.php');
        if ($cm = tickets::find_cm($course->id, 'quiz', $idnumber)) {
            return [$cm, false];
        }
        $coursecontext = \context_course::instance($course->id);
        require_capability('moodle/course:manageactivities', $coursecontext);
        require_capability('mod/quiz:addinstance', $coursecontext);
        $info = [
            'modulename' => 'quiz',
            'module' => $DB->get_field('modules', 'id', ['name' => 'quiz'], MUST_EXIST),
            'course' => $course->id,
            'section' => 0,
            'visible' => 1,
            'visibleoncoursepage' => 1,
            'cmidnumber' => $idnumber,
            'groupmode' => 0,
            'groupingid' => 0,
            'availability' => null,
            'completion' => 0,
            'introformat' => FORMAT_HTML,
            'timeopen' => 0,
            'timeclose' => 0,
            'timelimit' => 0,
            'overduehandling' => 'autosubmit',
            'graceperiod' => 0,
            'attempts' => 1,
            'attemptonlast' => 0,
            'grademethod' => QUIZ_GRADEHIGHEST,
            'preferredbehaviour' => 'deferredfeedback',
            'decimalpoints' => 2,
            'questiondecimalpoints' => -1,
            'questionsperpage' => 1,
            'navmethod' => QUIZ_NAVMETHOD_FREE,
            'shuffleanswers' => 0,
            'sumgrades' => 0,
            'grade' => 0,
            'quizpassword' => '',
            'subnet' => '',
            'browsersecurity' => '',
            'delay1' => 0,
            'delay2' => 0,
            'showuserpicture' => 0,
            'showblocks' => 0,
        ];
        foreach (['during', 'immediately', 'open', 'closed'] as $when) {
            $info['attempt' . $when] = 1;
            foreach (['correctness', 'maxmarks', 'marks', 'specificfeedback', 'generalfeedback', 'rightanswer',
                    'overallfeedback'] as $what) {
                $info[$what . $when] = 0;
            }
        }
        $info = add_moduleinfo((object)array_merge($info, $settings), $course);
        return [$DB->get_record('course_modules', ['id' => $info->coursemodule], '*', MUST_EXIST), true];
    }

    /**
     * Add a question category under the top category of the quiz's own bank.
     *
     * @param \context_module $quizcontext
     * @param string $idnumber
     * @param string $name
     * @param string $info HTML
     * @return \stdClass the new category
     */
    public static function add_category(\context_module $quizcontext, string $idnumber, string $name,
            string $info): \stdClass {
        global $CFG, $DB;
        require_once($CFG->libdir . '/questionlib.php');
        $top = question_get_top_category($quizcontext->id, true);
        $manager = new \core_question\category_manager();
        $id = $manager->add_category($top->id . ',' . $quizcontext->id, $name, $info, FORMAT_HTML, $idnumber);
        return $DB->get_record('question_categories', ['id' => $id], '*', MUST_EXIST);
    }
}
