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
 * The ticket quiz: one essay question per ticket in a "Tickets" category and one random slot drawing from it.
 *
 * Moodle 4.5 keeps question categories in course (or module) contexts; Moodle 5.x only in module contexts.
 * The category is created in the quiz's own module context, which both accept. An existing one is reused
 * wherever it is: drawn from by the quiz's slots, in the course context on 4.5 (for example made by a Moodle
 * XML import), or in a question bank of the course after the upgrade to 5.x moved it there.
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class tickets {
    /** idnumber of the ticket quiz's course module by default. */
    const QUIZ_IDNUMBER = 'lmsbridge-tickets';
    /** idnumber of the Tickets question category. */
    const CATEGORY_IDNUMBER = 'lmsbridge-tickets';
    /** Question bank entry idnumber prefix: ticket-<number>. */
    const QUESTION_PREFIX = 'ticket-';

    /**
     * Find a course by id or idnumber.
     *
     * @param int $courseid 0 to use the idnumber
     * @param string $idnumber course idnumber (the session code)
     * @return \stdClass course record
     */
    public static function find_course(int $courseid, string $idnumber): \stdClass {
        global $DB;
        $course = $courseid ? $DB->get_record('course', ['id' => $courseid])
            : ($idnumber !== '' ? $DB->get_record('course', ['idnumber' => $idnumber]) : false);
        if (!$course || $course->id == SITEID) {
            throw new \moodle_exception('coursenotfound', 'local_lmsbridge', '',
                (object)['id' => $courseid, 'idnumber' => $idnumber]);
        }
        return $course;
    }

    /**
     * Find an activity of a course by its course module idnumber.
     *
     * @param int $courseid
     * @param string $modname quiz or assign
     * @param string $idnumber course module idnumber
     * @return \stdClass|null the course module record with instance
     */
    public static function find_cm(int $courseid, string $modname, string $idnumber): ?\stdClass {
        global $DB;
        $sql = "SELECT cm.*
                  FROM {course_modules} cm
                  JOIN {modules} m ON m.id = cm.module AND m.name = :modname
                 WHERE cm.course = :courseid AND cm.idnumber = :idnumber AND cm.deletioninprogress = 0";
        $cms = $DB->get_records_sql($sql, ['modname' => $modname, 'courseid' => $courseid, 'idnumber' => $idnumber],
            0, 1);
        return $cms ? reset($cms) : null;
    }

    /**
     * Check the requested tickets before anything is written, so bad input changes nothing.
     *
     * The errors are moodle_exceptions with their own errorcode: an invalid_parameter_exception would only
     * say "Invalid parameter value detected" on a site without debugging.
     *
     * @param array $tickets [['number' => int, 'name' => string, 'questions' => string[]], ...]
     */
    public static function validate_tickets(array $tickets): void {
        $seen = [];
        foreach ($tickets as $ticket) {
            $number = (int)$ticket['number'];
            if ($number < 1) {
                throw new \moodle_exception('invalidticketnumber', 'local_lmsbridge', '', $number);
            }
            if (isset($seen[$number])) {
                throw new \moodle_exception('duplicateticket', 'local_lmsbridge', '', $number);
            }
            $seen[$number] = true;
            $questions = array_filter(array_map('trim', $ticket['questions']), fn($q) => $q !== '');
            if (!$questions) {
                throw new \moodle_exception('emptyticket', 'local_lmsbridge', '', $number);
            }
        }
    }

    /**
     * Ensure the ticket quiz exists in the course; create it when missing.
     *
     * @param \stdClass $course
     * @param string $idnumber course module idnumber of the quiz
     * @param string $name quiz name when created ('' = the translated default)
     * @param int $timelimit seconds, 0 = none (only used on creation)
     * @param int $section course section for a new quiz
     * @return array [cm record, bool created]
     */
    public static function ensure_quiz(\stdClass $course, string $idnumber, string $name, int $timelimit,
            int $section): array {
        // One attempt: a student draws exactly one ticket. Students may look at their ticket again after
        // submitting; marks stay hidden (the commission decides).
        return quizbuilder::ensure_quiz($course, $idnumber, [
            'section' => $section,
            'name' => $name !== '' ? $name : get_string('ticketquiz', 'local_lmsbridge'),
            'intro' => get_string('ticketquiz_intro', 'local_lmsbridge'),
            'timelimit' => $timelimit,
            'attempts' => 1,
            'shuffleanswers' => 0,
        ]);
    }

    /**
     * Find the Tickets category of a quiz.
     *
     * Looked for, in this order: among the categories the quiz's random slots already draw from (wherever
     * Moodle keeps or moved it, that is the category students draw from); in the quiz's own context; in the
     * course context (4.5); in the course's question banks (5.x: the upgrade to 5.0 moves every course-level
     * category into a mod_qbank instance of the course, mod/qbank/classes/task/transfer_question_categories.php).
     * Missing any of these places makes setup_tickets create a second category and a second ticket slot.
     *
     * @param \context_module $quizcontext
     * @return \stdClass|null
     */
    public static function find_category(\context_module $quizcontext): ?\stdClass {
        global $DB;
        $categories = self::slot_categories($quizcontext->id);
        if ($categories) {
            return reset($categories);
        }
        $contextids = [$quizcontext->id, $quizcontext->get_course_context()->id];
        foreach ($contextids as $contextid) {
            $category = $DB->get_record('question_categories',
                ['contextid' => $contextid, 'idnumber' => self::CATEGORY_IDNUMBER]);
            if ($category) {
                return $category;
            }
        }
        // Question banks of the course (mod_qbank exists from 5.0; on 4.5 the join finds nothing).
        $sql = "SELECT qc.*
                  FROM {question_categories} qc
                  JOIN {context} ctx ON ctx.id = qc.contextid AND ctx.contextlevel = :level
                  JOIN {course_modules} cm ON cm.id = ctx.instanceid AND cm.deletioninprogress = 0
                  JOIN {modules} m ON m.id = cm.module AND m.name = 'qbank'
                 WHERE cm.course = :courseid AND qc.idnumber = :idnumber
              ORDER BY qc.id";
        $found = $DB->get_records_sql($sql, ['level' => CONTEXT_MODULE,
            'courseid' => $quizcontext->get_course_context()->instanceid, 'idnumber' => self::CATEGORY_IDNUMBER], 0, 1);
        return $found ? reset($found) : null;
    }

    /**
     * The category ids a random slot's filter condition draws from.
     *
     * 4.3+ stores filter.category.values; a reference not yet converted from the older shape has questioncategoryid.
     *
     * @param string|null $filtercondition question_set_references.filtercondition (JSON)
     * @return int[]
     */
    public static function filter_categoryids(?string $filtercondition): array {
        $filter = json_decode((string)$filtercondition, true);
        if (!is_array($filter)) {
            return [];
        }
        $values = $filter['filter']['category']['values'] ?? [];
        if (!$values && isset($filter['questioncategoryid'])) {
            $values = [$filter['questioncategoryid']];
        }
        return array_values(array_filter(array_map('intval', (array)$values)));
    }

    /**
     * The Tickets categories (idnumber lmsbridge-tickets, any context) the quiz's random slots draw from, by slot.
     *
     * @param int $quizcontextid
     * @return \stdClass[] category records keyed by id, in slot order
     */
    public static function slot_categories(int $quizcontextid): array {
        global $DB;
        $sql = "SELECT qsr.id, qsr.filtercondition
                  FROM {question_set_references} qsr
                  JOIN {quiz_slots} s ON s.id = qsr.itemid
                 WHERE qsr.usingcontextid = :contextid AND qsr.component = 'mod_quiz' AND qsr.questionarea = 'slot'
              ORDER BY s.slot";
        $ids = [];
        foreach ($DB->get_records_sql($sql, ['contextid' => $quizcontextid]) as $reference) {
            foreach (self::filter_categoryids($reference->filtercondition) as $id) {
                $ids[$id] = true;
            }
        }
        if (!$ids) {
            return [];
        }
        [$insql, $params] = $DB->get_in_or_equal(array_keys($ids), SQL_PARAMS_NAMED);
        $params['idnumber'] = self::CATEGORY_IDNUMBER;
        $found = $DB->get_records_select('question_categories', "id $insql AND idnumber = :idnumber", $params);
        $ordered = [];
        foreach (array_keys($ids) as $id) {
            if (isset($found[$id])) {
                $ordered[$id] = $found[$id];
            }
        }
        return $ordered;
    }

    /**
     * Ensure the Tickets category exists.
     *
     * @param \context_module $quizcontext
     * @return array [category record, bool created]
     */
    public static function ensure_category(\context_module $quizcontext): array {
        global $CFG, $DB;
        require_once($CFG->libdir . '/questionlib.php');
        if ($category = self::find_category($quizcontext)) {
            return [$category, false];
        }
        return [quizbuilder::add_category($quizcontext, self::CATEGORY_IDNUMBER,
            get_string('ticketcategory', 'local_lmsbridge'), get_string('ticketcategory_info', 'local_lmsbridge')),
            true];
    }

    /**
     * The question text of a ticket: its questions as a numbered list (plain text is escaped).
     *
     * @param string[] $questions
     * @return string HTML
     */
    public static function ticket_html(array $questions): string {
        $items = [];
        foreach ($questions as $question) {
            $question = trim($question);
            if ($question !== '') {
                $items[] = '<li>' . s($question) . '</li>';
            }
        }
        return '<ol>' . implode('', $items) . '</ol>';
    }

    /**
     * Ensure one essay question per ticket (bank entry idnumber ticket-<n>); hide tickets no longer listed.
     *
     * @param \stdClass $category
     * @param array $tickets validated tickets
     * @return array per ticket: number, idnumber, questionid, questionbankentryid, status
     */
    public static function ensure_questions(\stdClass $category, array $tickets): array {
        global $CFG, $DB;
        require_once($CFG->libdir . '/questionlib.php');
        $context = \context::instance_by_id($category->contextid);
        $existing = self::category_tickets($category->id);
        $qtype = \question_bank::get_qtype('essay');
        $result = [];
        $wanted = [];
        foreach ($tickets as $ticket) {
            $number = (int)$ticket['number'];
            $idnumber = self::QUESTION_PREFIX . $number;
            $wanted[$idnumber] = true;
            $name = trim((string)($ticket['name'] ?? ''));
            if ($name === '') {
                $name = get_string('ticketname', 'local_lmsbridge', $number);
            }
            $html = self::ticket_html($ticket['questions']);
            $current = $existing[$idnumber] ?? null;
            if ($current && $current->name === $name && $current->questiontext === $html
                    && $current->status === question_version_status::QUESTION_STATUS_READY) {
                $status = 'unchanged';
                $questionid = (int)$current->questionid;
            } else if ($current && $current->name === $name && $current->questiontext === $html) {
                // Listed again after having been dropped: make it drawable again.
                $DB->set_field('question_versions', 'status', question_version_status::QUESTION_STATUS_READY,
                    ['id' => $current->versionid]);
                \question_bank::notify_question_edited($current->questionid);
                $status = 'updated';
                $questionid = (int)$current->questionid;
            } else {
                require_capability($current ? 'moodle/question:editall' : 'moodle/question:add', $context);
                $form = (object)[
                    'category' => $category->id . ',' . $category->contextid,
                    'name' => $name,
                    'idnumber' => $idnumber,
                    'questiontext' => ['text' => $html, 'format' => FORMAT_HTML],
                    'generalfeedback' => ['text' => '', 'format' => FORMAT_HTML],
                    'defaultmark' => 1,
                    'responseformat' => 'editor',
                    // The answer is given orally to the commission; writing notes is optional.
                    'responserequired' => 0,
                    'responsefieldlines' => 15,
                    'attachments' => 0,
                    'attachmentsrequired' => 0,
                    'maxbytes' => 0,
                    'filetypeslist' => '',
                    'graderinfo' => ['text' => '', 'format' => FORMAT_HTML],
                    'responsetemplate' => ['text' => '', 'format' => FORMAT_HTML],
                    'status' => question_version_status::QUESTION_STATUS_READY,
                ];
                // With an id, save_question() adds a new version to the same bank entry.
                $question = $current ? $DB->get_record('question', ['id' => $current->questionid], '*', MUST_EXIST)
                    : (object)['qtype' => 'essay'];
                $question->qtype = 'essay';
                $saved = $qtype->save_question($question, $form);
                $questionid = (int)$saved->id;
                $status = $current ? 'updated' : 'created';
            }
            $entryid = (int)$DB->get_field('question_versions', 'questionbankentryid', ['questionid' => $questionid]);
            $result[] = [
                'number' => $number,
                'idnumber' => $idnumber,
                'questionid' => $questionid,
                'questionbankentryid' => $entryid,
                'status' => $status,
            ];
        }
        // A ticket dropped from the list must not be drawn any more; hiding keeps past attempts reviewable.
        foreach ($existing as $idnumber => $current) {
            if (!isset($wanted[$idnumber]) && $current->status === question_version_status::QUESTION_STATUS_READY) {
                $DB->set_field('question_versions', 'status', question_version_status::QUESTION_STATUS_HIDDEN,
                    ['id' => $current->versionid]);
                \question_bank::notify_question_edited($current->questionid);
                $result[] = [
                    'number' => self::ticket_number($idnumber),
                    'idnumber' => $idnumber,
                    'questionid' => (int)$current->questionid,
                    'questionbankentryid' => (int)$current->entryid,
                    'status' => 'hidden',
                ];
            }
        }
        return $result;
    }

    /**
     * The latest version of every ticket question in a category, keyed by bank entry idnumber.
     *
     * @param int $categoryid
     * @return \stdClass[]
     */
    public static function category_tickets(int $categoryid): array {
        global $DB;
        $sql = "SELECT qbe.idnumber, qbe.id AS entryid, qv.id AS versionid, qv.status, q.id AS questionid,
                       q.name, q.questiontext
                  FROM {question_bank_entries} qbe
                  JOIN {question_versions} qv ON qv.questionbankentryid = qbe.id
                  JOIN {question} q ON q.id = qv.questionid
                 WHERE qbe.questioncategoryid = :categoryid
                   AND " . $DB->sql_like('qbe.idnumber', ':prefix') . "
                   AND qv.version = (SELECT MAX(v2.version) FROM {question_versions} v2
                                      WHERE v2.questionbankentryid = qbe.id)";
        return $DB->get_records_sql($sql, ['categoryid' => $categoryid, 'prefix' => self::QUESTION_PREFIX . '%']);
    }

    /**
     * The ticket slots of a quiz: its random slots that draw from a Tickets category (idnumber lmsbridge-tickets,
     * whichever context Moodle keeps it in), the one drawing from $categoryid first.
     *
     * @param int $quizid
     * @param int $categoryid the Tickets category setup_tickets works with (0: none preferred)
     * @return \stdClass[] slot records (id, slot, page)
     */
    public static function ticket_slots(int $quizid, int $categoryid = 0): array {
        global $DB;
        $sql = "SELECT s.id, s.slot, s.page, qsr.filtercondition
                  FROM {quiz_slots} s
                  JOIN {question_set_references} qsr ON qsr.itemid = s.id
                       AND qsr.component = 'mod_quiz' AND qsr.questionarea = 'slot'
                 WHERE s.quizid = :quizid
              ORDER BY s.slot";
        $ticketcategories = $DB->get_records_menu('question_categories', ['idnumber' => self::CATEGORY_IDNUMBER],
            '', 'id, contextid');
        $preferred = [];
        $others = [];
        foreach ($DB->get_records_sql($sql, ['quizid' => $quizid]) as $slot) {
            $values = self::filter_categoryids($slot->filtercondition);
            if (in_array($categoryid, $values, true)) {
                $preferred[] = $slot;
            } else if (array_intersect_key(array_flip($values), $ticketcategories)) {
                $others[] = $slot;
            }
        }
        return array_merge($preferred, $others);
    }

    /**
     * Ensure the quiz has a random ticket slot; never a second one.
     *
     * A quiz that already has a ticket slot keeps it, even when it draws from another Tickets category than
     * $category (one left in another context by an upgrade): a second slot would give every student two tickets.
     *
     * @param \stdClass $cm quiz course module
     * @param \stdClass $category
     * @return array [slot record, bool created]
     */
    public static function ensure_slot(\stdClass $cm, \stdClass $category): array {
        global $CFG, $DB;
        require_once($CFG->dirroot . '/mod/quiz/locallib.php');
        $slots = self::ticket_slots((int)$cm->instance, (int)$category->id);
        if ($slots) {
            return [reset($slots), false];
        }
        if (quiz_has_attempts($cm->instance)) {
            throw new \moodle_exception('quizhasattempts', 'local_lmsbridge');
        }
        $quizcontext = \context_module::instance($cm->id);
        require_capability('mod/quiz:manage', $quizcontext);
        $settings = \mod_quiz\quiz_settings::create_for_cmid($cm->id);
        $structure = \mod_quiz\structure::create_for_quiz($settings);
        $filter = [
            'category' => [
                // 1 = JOINTYPE_ANY, custom_category_condition's default (a literal: the class moved between versions).
                'jointype' => 1,
                'values' => [(int)$category->id],
                'filteroptions' => ['includesubcategories' => false],
            ],
        ];
        // Same shape mod_quiz_add_random_questions stores, so the quiz editing page shows the filter.
        $structure->add_random_questions(0, 1, [
            'qpage' => 0,
            'cat' => $category->id . ',' . $category->contextid,
            'qperpage' => 100, // DEFAULT_QUESTIONS_PER_PAGE of question/editlib.php.
            'tabname' => 'questions',
            'sortdata' => [],
            'filter' => $filter,
        ]);
        $quiz = $DB->get_record('quiz', ['id' => $cm->instance], '*', MUST_EXIST);
        quiz_delete_previews($quiz);
        \mod_quiz\quiz_settings::create($quiz->id)->get_grade_calculator()->recompute_quiz_sumgrades();
        $slots = self::ticket_slots((int)$cm->instance, (int)$category->id);
        return [reset($slots), true];
    }

    /**
     * Ticket number from a bank entry idnumber ("ticket-7" -> 7), 0 if it is not a ticket.
     *
     * @param string|null $idnumber
     * @return int
     */
    public static function ticket_number(?string $idnumber): int {
        if ($idnumber !== null && preg_match('/^' . self::QUESTION_PREFIX . '(\d+)$/', $idnumber, $m)) {
            return (int)$m[1];
        }
        return 0;
    }

    /**
     * The ticket question an attempt drew.
     *
     * @param int $uniqueid the attempt's question usage id (quiz_attempts.uniqueid)
     * @return array|null ['number', 'idnumber', 'questionid'] or null when the attempt has no ticket question
     */
    public static function drawn_ticket(int $uniqueid): ?array {
        global $DB;
        $sql = "SELECT qa.id, qa.questionid, qbe.idnumber
                  FROM {question_attempts} qa
                  JOIN {question_versions} qv ON qv.questionid = qa.questionid
                  JOIN {question_bank_entries} qbe ON qbe.id = qv.questionbankentryid
                  JOIN {question_categories} qc ON qc.id = qbe.questioncategoryid
                 WHERE qa.questionusageid = :usageid AND qc.idnumber = :catidnumber
              ORDER BY qa.slot";
        $rows = $DB->get_records_sql($sql, ['usageid' => $uniqueid, 'catidnumber' => self::CATEGORY_IDNUMBER], 0, 1);
        if (!$rows) {
            return null;
        }
        $row = reset($rows);
        return [
            'number' => self::ticket_number($row->idnumber),
            'idnumber' => (string)$row->idnumber,
            'questionid' => (int)$row->questionid,
        ];
    }
}
