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

use core_question\local\bank\question_version_status;

/**
 * The test exam's quiz: random questions drawn from a "Test" category holding the session's bank, each slot worth
 * the same mark, a time limit and a number of attempts, closed to everyone (admission is a user override).
 *
 * Questions are single-answer multiple choice; a question's bank entry idnumber is derived from its content by
 * the bridge, so a changed question is a new entry and a question dropped from the bank is hidden.
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class testquiz {
    /** idnumber of the test question category. */
    const CATEGORY_IDNUMBER = 'lmsbridge-test';

    /**
     * Ensure the test quiz exists; a new one is closed to everyone from the start.
     *
     * @param \stdClass $course
     * @param string $idnumber course module idnumber
     * @param string $name
     * @param string $intro plain text
     * @param int $timelimit seconds
     * @param int $attempts
     * @return array [cm record, bool created]
     */
    public static function ensure_quiz(\stdClass $course, string $idnumber, string $name, string $intro,
            int $timelimit, int $attempts): array {
        // Closed to everyone: an admitted student gets a user override (mod_quiz_save_overrides). The score is
        // the commission's business until the results are announced: no marks or answers shown.
        return quizbuilder::ensure_quiz($course, $idnumber, [
            'name' => $name,
            'intro' => s($intro),
            'timeclose' => time() - 60,
            'timelimit' => $timelimit,
            'attempts' => $attempts,
            'shuffleanswers' => 1,
        ]);
    }

    /**
     * Ensure the Test category in the quiz's own context.
     *
     * @param \context_module $quizcontext
     * @return array [category record, bool created]
     */
    public static function ensure_category(\context_module $quizcontext): array {
        global $DB;
        $category = $DB->get_record('question_categories',
            ['contextid' => $quizcontext->id, 'idnumber' => self::CATEGORY_IDNUMBER]);
        if ($category) {
            return [$category, false];
        }
        return [quizbuilder::add_category($quizcontext, self::CATEGORY_IDNUMBER, 'Test', ''), true];
    }

    /**
     * Check the questions before anything is written.
     *
     * @param array $questions [['idnumber', 'name', 'text', 'answers' => [['text', 'correct'], ...]], ...]
     * @param int $count random slots wanted
     */
    public static function validate(array $questions, int $count): void {
        $seen = [];
        foreach ($questions as $question) {
            $right = array_filter($question['answers'], fn($a) => !empty($a['correct']));
            if (count($question['answers']) < 2 || count($right) !== 1 || trim($question['text']) === '') {
                throw new \moodle_exception('invalidtestquestion', 'local_lmsbridge', '', $question['idnumber']);
            }
            if (isset($seen[$question['idnumber']])) {
                throw new \moodle_exception('invalidtestquestion', 'local_lmsbridge', '', $question['idnumber']);
            }
            $seen[$question['idnumber']] = true;
        }
        if ($count < 1 || $count > count($questions)) {
            throw new \moodle_exception('notenoughquestions', 'local_lmsbridge', '',
                (object)['have' => count($questions), 'need' => $count]);
        }
    }

    /**
     * Ensure one multiple-choice question per listed idnumber; hide those no longer listed.
     *
     * @param \stdClass $category
     * @param array $questions validated questions
     * @return array [number of drawable questions, bool changed]
     */
    public static function ensure_questions(\stdClass $category, array $questions): array {
        global $CFG, $DB;
        require_once($CFG->libdir . '/questionlib.php');
        $context = \context::instance_by_id($category->contextid);
        $sql = "SELECT qbe.idnumber, qv.id AS versionid, qv.status, q.id AS questionid
                  FROM {question_bank_entries} qbe
                  JOIN {question_versions} qv ON qv.questionbankentryid = qbe.id
                  JOIN {question} q ON q.id = qv.questionid
                 WHERE qbe.questioncategoryid = :categoryid
                   AND qv.version = (SELECT MAX(v2.version) FROM {question_versions} v2
                                      WHERE v2.questionbankentryid = qbe.id)";
        $existing = $DB->get_records_sql($sql, ['categoryid' => $category->id]);
        $qtype = \question_bank::get_qtype('multichoice');
        $changed = false;
        $wanted = [];
        $empty = ['text' => '', 'format' => FORMAT_HTML];
        foreach ($questions as $question) {
            $idnumber = $question['idnumber'];
            $wanted[$idnumber] = true;
            $current = $existing[$idnumber] ?? null;
            if ($current) {
                if ($current->status !== question_version_status::QUESTION_STATUS_READY) {
                    $DB->set_field('question_versions', 'status', question_version_status::QUESTION_STATUS_READY,
                        ['id' => $current->versionid]);
                    \question_bank::notify_question_edited($current->questionid);
                    $changed = true;
                }
                continue;
            }
            require_capability('moodle/question:add', $context);
            $answers = $fractions = $feedback = [];
            foreach ($question['answers'] as $answer) {
                $answers[] = ['text' => s($answer['text']), 'format' => FORMAT_HTML];
                $fractions[] = empty($answer['correct']) ? 0.0 : 1.0;
                $feedback[] = $empty;
            }
            $form = (object)[
                'category' => $category->id . ',' . $category->contextid,
                'name' => $question['name'],
                'idnumber' => $idnumber,
                'questiontext' => ['text' => '<p>' . s($question['text']) . '</p>', 'format' => FORMAT_HTML],
                'generalfeedback' => $empty,
                'defaultmark' => 1,
                'penalty' => 0,
                'single' => 1,
                'shuffleanswers' => 1,
                'answernumbering' => 'abc',
                'showstandardinstruction' => 0,
                'answer' => $answers,
                'fraction' => $fractions,
                'feedback' => $feedback,
                'correctfeedback' => $empty,
                'partiallycorrectfeedback' => $empty,
                'incorrectfeedback' => $empty,
                'shownumcorrect' => 0,
                'status' => question_version_status::QUESTION_STATUS_READY,
            ];
            $qtype->save_question((object)['qtype' => 'multichoice'], $form);
            $changed = true;
        }
        foreach ($existing as $idnumber => $current) {
            if (!isset($wanted[$idnumber]) && $current->status === question_version_status::QUESTION_STATUS_READY) {
                // Dropped from the bank: never drawn again; past attempts stay reviewable.
                $DB->set_field('question_versions', 'status', question_version_status::QUESTION_STATUS_HIDDEN,
                    ['id' => $current->versionid]);
                \question_bank::notify_question_edited($current->questionid);
                $changed = true;
            }
        }
        return [count($wanted), $changed];
    }

    /**
     * Ensure exactly $count random slots draw from the category, each worth $mark; the quiz's grade follows.
     *
     * @param \stdClass $cm quiz course module
     * @param \stdClass $category
     * @param int $count
     * @param float $mark
     * @return array [number of slots, bool changed]
     */
    public static function ensure_slots(\stdClass $cm, \stdClass $category, int $count, float $mark): array {
        global $CFG, $DB;
        require_once($CFG->dirroot . '/mod/quiz/locallib.php');
        $changed = false;
        $slots = tickets::ticket_slots((int)$cm->instance, (int)$category->id);
        if (count($slots) !== $count) {
            if (quiz_has_attempts($cm->instance)) {
                throw new \moodle_exception('quizhasattempts', 'local_lmsbridge');
            }
            require_capability('mod/quiz:manage', \context_module::instance($cm->id));
            $structure = \mod_quiz\structure::create_for_quiz(\mod_quiz\quiz_settings::create_for_cmid($cm->id));
            // Highest slot first, so the numbers of the ones still to remove do not move.
            foreach (array_reverse($slots) as $slot) {
                $structure->remove_slot((int)$slot->slot);
            }
            $structure = \mod_quiz\structure::create_for_quiz(\mod_quiz\quiz_settings::create_for_cmid($cm->id));
            $structure->add_random_questions(0, $count, [
                'qpage' => 0,
                'cat' => $category->id . ',' . $category->contextid,
                'qperpage' => 100,
                'tabname' => 'questions',
                'sortdata' => [],
                'filter' => [
                    'category' => [
                        'jointype' => 1,
                        'values' => [(int)$category->id],
                        'filteroptions' => ['includesubcategories' => false],
                    ],
                ],
            ]);
            $changed = true;
        }
        $structure = \mod_quiz\structure::create_for_quiz(\mod_quiz\quiz_settings::create_for_cmid($cm->id));
        foreach (tickets::ticket_slots((int)$cm->instance, (int)$category->id) as $slot) {
            $record = $DB->get_record('quiz_slots', ['id' => $slot->id], '*', MUST_EXIST);
            $changed = $structure->update_slot_maxmark($record, $mark) || $changed;
        }
        $quiz = $DB->get_record('quiz', ['id' => $cm->instance], '*', MUST_EXIST);
        quiz_delete_previews($quiz);
        $calculator = \mod_quiz\quiz_settings::create($quiz->id)->get_grade_calculator();
        $calculator->recompute_quiz_sumgrades();
        // The quiz's grade is out of the exam's maximum, so Moodle's grade is the exam points as they are.
        \mod_quiz\quiz_settings::create($quiz->id)->get_grade_calculator()->update_quiz_maximum_grade($count * $mark);
        return [count(tickets::ticket_slots((int)$cm->instance, (int)$category->id)), $changed];
    }
}
