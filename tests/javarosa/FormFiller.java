/*
 * FormFiller -- a test tool that fills in an XForm the way ODK Collect's form
 * engine (JavaRosa) does, so that Verivali's tests can submit instances that
 * were genuinely produced and serialised by JavaRosa rather than hand-written.
 *
 * This file owns the whole "be ODK Collect" side of those tests:
 *   - parsing the form with JavaRosa's XFormParser (via XFormUtils),
 *   - initialising a brand-new instance (start / deviceid / instanceID
 *     preloads fire here, exactly as when Collect opens a blank form),
 *   - stepping through the form with FormEntryController / FormEntryModel
 *     and answering each question with a properly typed IAnswerData,
 *     enforcing constraints and required-ness as Collect does,
 *   - finalising the form (end-of-form post-processing sets `end`), and
 *   - serialising the main instance with XFormSerializingVisitor into the
 *     bytes Collect would upload as the submission's xml_submission_file.
 *
 * It is compiled and run against the JavaRosa classes bundled in pyxform's
 * ODK_Validate.jar (JavaRosa 5.x), see README.md and filler.py next to it.
 *
 * Usage:
 *   java -cp ODK_Validate.jar:<classes dir> FormFiller FORM.xml ANSWERS.properties
 *
 * ANSWERS.properties (UTF-8 java.util.Properties):
 *   nama=Budi                      question path without root, no indexes
 *   grp/umur=42                    questions inside groups
 *   anggota@count=2                number of instances of repeat `anggota`
 *   anggota/nama_anggota#1=Ani     answer for the 1st instance of the repeat
 *   anggota/nama_anggota=X         fallback for instances without #n
 *   @property.deviceid=collect:X   value of a Collect "property" preload
 *                                  (deviceid, username, email, phonenumber)
 * For nested repeats the "#" suffix is either the innermost instance number
 * (`outer/inner/q#2`) or the full outer-to-inner chain (`outer/inner/q#1.2`,
 * which wins); `outer/inner@count#1` sets the inner count for outer #1.
 *
 * Value formats: plain text; select_one = choice value; select_multiple /
 * rank = space-separated choice values; geopoint = "lat lon alt acc";
 * date = yyyy-mm-dd; time = HH:mm[:ss]; dateTime = ISO 8601; binary
 * (image/audio/video/file) = the attachment file name; numbers as text.
 * An empty value means "explicitly leave blank" (clears a default).
 *
 * Exit codes:
 *   0  success, the instance XML (UTF-8) is on stdout
 *   1  usage, I/O, form parse or internal error
 *   2  an answer was rejected like Collect would reject it: constraint
 *      violated, required question left empty, value not valid for the
 *      question's type, unknown choice, answer for a read-only question
 *   3  some answer keys were never used (typo, or question not relevant)
 */

import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

import org.javarosa.core.model.Constants;
import org.javarosa.core.model.FormDef;
import org.javarosa.core.model.FormIndex;
import org.javarosa.core.model.IDataReference;
import org.javarosa.core.model.SelectChoice;
import org.javarosa.core.model.SubmissionProfile;
import org.javarosa.core.model.condition.IConditionExpr;
import org.javarosa.core.model.data.IAnswerData;
import org.javarosa.core.model.data.SelectMultiData;
import org.javarosa.core.model.data.SelectOneData;
import org.javarosa.core.model.data.StringData;
import org.javarosa.core.model.data.helper.Selection;
import org.javarosa.core.model.instance.InstanceInitializationFactory;
import org.javarosa.core.model.instance.TreeElement;
import org.javarosa.core.model.instance.TreeReference;
import org.javarosa.core.services.IPropertyManager;
import org.javarosa.core.services.PropertyManager;
import org.javarosa.core.services.properties.IPropertyRules;
import org.javarosa.core.services.transport.payload.IDataPayload;
import org.javarosa.form.api.FormEntryCaption;
import org.javarosa.form.api.FormEntryController;
import org.javarosa.form.api.FormEntryModel;
import org.javarosa.form.api.FormEntryPrompt;
import org.javarosa.model.xform.XFormSerializingVisitor;
import org.javarosa.model.xform.XFormsModule;
import org.javarosa.model.xform.XPathReference;
import org.javarosa.xform.util.XFormAnswerDataParser;
import org.javarosa.xform.util.XFormUtils;
import org.javarosa.xpath.XPathConditional;

public final class FormFiller {

    static final int EXIT_OK = 0;
    static final int EXIT_ERROR = 1;
    static final int EXIT_REJECTED = 2;
    static final int EXIT_UNUSED_KEYS = 3;

    /** Prefix of answer-file keys that configure Collect "property" preloads. */
    static final String PROPERTY_PREFIX = "@property.";
    /** Suffix of answer-file keys that give a repeat's instance count. */
    static final String COUNT_SUFFIX = "@count";

    /** Raised when Collect would refuse to let the enumerator go on. */
    static final class RejectedAnswer extends Exception {
        private static final long serialVersionUID = 1L;

        RejectedAnswer(String message) {
            super(message);
        }
    }

    /** Raised when answer keys matched no question that was reached. */
    static final class UnusedKeys extends Exception {
        private static final long serialVersionUID = 1L;

        UnusedKeys(String message) {
            super(message);
        }
    }

    private final Properties answers;
    private final Set<String> usedKeys = new LinkedHashSet<>();
    private FormEntryController controller;
    private FormEntryModel model;

    private FormFiller(Properties answers) {
        this.answers = answers;
    }

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: java -cp ODK_Validate.jar:<classes> FormFiller FORM.xml ANSWERS.properties");
            System.exit(EXIT_ERROR);
        }
        int code;
        try {
            Properties answers = new Properties();
            try (Reader r = new InputStreamReader(new FileInputStream(args[1]), StandardCharsets.UTF_8)) {
                answers.load(r);
            }
            byte[] xml = new FormFiller(answers).run(args[0]);
            System.out.write(xml);
            System.out.flush();
            code = EXIT_OK;
        } catch (RejectedAnswer e) {
            System.err.println("FormFiller: answer rejected: " + e.getMessage());
            code = EXIT_REJECTED;
        } catch (UnusedKeys e) {
            System.err.println("FormFiller: " + e.getMessage());
            code = EXIT_UNUSED_KEYS;
        } catch (Throwable e) {
            System.err.println("FormFiller: error: " + e);
            e.printStackTrace(System.err);
            code = EXIT_ERROR;
        }
        System.exit(code);
    }

    // ------------------------------------------------------------------
    // The form-entry session, in the order Collect performs it.
    // ------------------------------------------------------------------

    private byte[] run(String formPath) throws Exception {
        // Collect's JavaRosa initialisation: register the XForms module and
        // install a property manager that answers "property" preloads.
        new XFormsModule().registerModule();
        PropertyManager.setPropertyManager(new CollectLikePropertyManager(propertyValues()));

        // Parse the form (Collect: FormLoaderTask -> XFormUtils).
        FormDef formDef;
        try (InputStream in = new FileInputStream(formPath)) {
            formDef = XFormUtils.getFormFromInputStream(in);
        }
        if (formDef == null) {
            throw new IllegalStateException("JavaRosa could not parse " + formPath);
        }

        // Blank form: create a new instance. This fires the preloads that
        // Collect fires when a blank form is opened (start, today, deviceid,
        // uid -> meta/instanceID, ...) and the odk-instance-first-load events.
        formDef.initialize(true, new InstanceInitializationFactory());

        model = new FormEntryModel(formDef);
        controller = new FormEntryController(model);

        fillIn();
        validateLikeCollectOnFinalize();

        // "Finalize": end-of-form post-processing (sets `end` etc.).
        controller.finalizeFormEntry();

        checkAllKeysUsed();
        return serialise(formDef);
    }

    /** Walk the form once, front to back, as an enumerator swiping forward. */
    private void fillIn() throws RejectedAnswer {
        controller.jumpToIndex(FormIndex.createBeginningOfFormIndex());
        int event = controller.stepToNextEvent();
        while (event != FormEntryController.EVENT_END_OF_FORM) {
            switch (event) {
                case FormEntryController.EVENT_QUESTION:
                    answerCurrentQuestion();
                    break;
                case FormEntryController.EVENT_PROMPT_NEW_REPEAT:
                    if (wantAnotherRepeat()) {
                        controller.newRepeat(); // next step enters the new instance
                    }
                    break;
                case FormEntryController.EVENT_REPEAT:
                    if (repeatInstanceIsSurplus()) {
                        // Collect's "remove this group": delete and go on from
                        // the index JavaRosa hands back.
                        FormIndex back = controller.deleteRepeat();
                        controller.jumpToIndex(back);
                    }
                    break;
                default:
                    // EVENT_GROUP, EVENT_BEGINNING_OF_FORM, EVENT_REPEAT_JUNCTURE:
                    // nothing to answer.
                    break;
            }
            event = controller.stepToNextEvent();
        }
    }

    /**
     * Collect re-checks every question when the form is finalised
     * (JavaRosaFormController.validateAnswers), which catches questions that
     * only became required/invalid because of later answers.
     */
    private void validateLikeCollectOnFinalize() throws RejectedAnswer {
        controller.jumpToIndex(FormIndex.createBeginningOfFormIndex());
        int event;
        while ((event = controller.stepToNextEvent()) != FormEntryController.EVENT_END_OF_FORM) {
            if (event != FormEntryController.EVENT_QUESTION) {
                continue;
            }
            FormIndex index = model.getFormIndex();
            FormEntryPrompt prompt = model.getQuestionPrompt(index);
            if (prompt.isReadOnly()) {
                continue;
            }
            check(prompt, controller.answerQuestion(index, prompt.getAnswerValue(), true), prompt.getAnswerValue());
        }
    }

    // ------------------------------------------------------------------
    // Questions
    // ------------------------------------------------------------------

    private void answerCurrentQuestion() throws RejectedAnswer {
        FormIndex index = model.getFormIndex();
        FormEntryPrompt prompt = model.getQuestionPrompt(index);
        String text = lookup(questionPath(index), repeatPositions(index));

        if (prompt.isReadOnly()) {
            // Notes, calculated read-only fields, meta/instanceID...: Collect
            // shows these without an editable widget.
            if (text != null) {
                throw new RejectedAnswer(describe(prompt) + " is read-only and cannot be answered");
            }
            return;
        }

        IAnswerData answer;
        if (text == null) {
            // Not given: the widget keeps whatever is there (default value,
            // preload, calculation), and swiping forward still validates it.
            answer = prompt.getAnswerValue();
        } else {
            answer = toAnswerData(prompt, text);
        }
        check(prompt, controller.answerQuestion(index, answer, true), answer);
    }

    /** Turn an ANSWER_* status from answerQuestion into a rejection. */
    private void check(FormEntryPrompt prompt, int status, IAnswerData answer) throws RejectedAnswer {
        if (status == FormEntryController.ANSWER_OK) {
            return;
        }
        if (status == FormEntryController.ANSWER_REQUIRED_BUT_EMPTY) {
            throw new RejectedAnswer(describe(prompt) + " is required but has no answer");
        }
        if (status == FormEntryController.ANSWER_CONSTRAINT_VIOLATED) {
            String msg = prompt.getConstraintText(answer);
            String constraint = constraintExpression(prompt);
            throw new RejectedAnswer(describe(prompt) + " value '" + (answer == null ? "" : answer.getDisplayText())
                + "' violates constraint"
                + (constraint == null ? "" : " " + constraint)
                + (msg == null ? "" : " (message: " + msg + ")"));
        }
        throw new RejectedAnswer(describe(prompt) + " answer not accepted (status " + status + ")");
    }

    /**
     * Build the IAnswerData that Collect's widget for this question would
     * produce from the given text.
     */
    private IAnswerData toAnswerData(FormEntryPrompt prompt, String text) throws RejectedAnswer {
        if (text.isEmpty()) {
            return null; // explicitly blank
        }
        int control = prompt.getControlType();
        switch (control) {
            case Constants.CONTROL_SELECT_ONE:
                return new SelectOneData(selection(prompt, text.trim()));
            case Constants.CONTROL_SELECT_MULTI:
            case Constants.CONTROL_RANK: {
                List<Selection> selections = new ArrayList<>();
                for (String value : text.trim().split("\\s+")) {
                    selections.add(selection(prompt, value));
                }
                return new SelectMultiData(selections);
            }
            case Constants.CONTROL_UPLOAD:
            case Constants.CONTROL_IMAGE_CHOOSE:
            case Constants.CONTROL_AUDIO_CAPTURE:
            case Constants.CONTROL_VIDEO_CAPTURE:
            case Constants.CONTROL_FILE_CAPTURE:
            case Constants.CONTROL_OSM_CAPTURE:
                // Media widgets store just the attachment's file name.
                return new StringData(text);
            default:
                break;
        }
        int dataType = prompt.getDataType();
        if (dataType == Constants.DATATYPE_TEXT || dataType == Constants.DATATYPE_NULL
                || dataType == Constants.DATATYPE_BARCODE || dataType == Constants.DATATYPE_BINARY) {
            return new StringData(text); // keep the text exactly as typed
        }
        // Everything else goes through JavaRosa's own typed parser (the one
        // it uses when reading saved instances back in).
        IAnswerData data;
        try {
            data = XFormAnswerDataParser.getAnswerData(text, dataType, prompt.getQuestion());
        } catch (RuntimeException e) {
            data = null;
        }
        if (data == null) {
            throw new RejectedAnswer(describe(prompt) + " value '" + text + "' is not valid for data type "
                + dataTypeName(dataType));
        }
        return data;
    }

    /** Find a choice by value among the (possibly itemset-generated) choices. */
    private Selection selection(FormEntryPrompt prompt, String value) throws RejectedAnswer {
        List<SelectChoice> choices = prompt.getSelectChoices();
        List<String> known = new ArrayList<>();
        if (choices != null) {
            for (SelectChoice choice : choices) {
                if (choice.getValue().equals(value)) {
                    return choice.selection();
                }
                known.add(choice.getValue());
            }
        }
        throw new RejectedAnswer(describe(prompt) + " has no choice '" + value + "' (choices: " + known + ")");
    }

    // ------------------------------------------------------------------
    // Repeats
    // ------------------------------------------------------------------

    /** At "Add another X?": yes while fewer instances exist than requested. */
    private boolean wantAnotherRepeat() {
        FormIndex index = model.getFormIndex();
        Integer wanted = repeatCount(index);
        if (wanted == null) {
            return false; // no count given: keep what the form starts with
        }
        // The prompt sits at the position the new instance would take.
        return index.getTerminal().getInstanceIndex() < wanted;
    }

    /** Entering an instance beyond the requested count (a form-provided one). */
    private boolean repeatInstanceIsSurplus() {
        FormIndex index = model.getFormIndex();
        Integer wanted = repeatCount(index);
        return wanted != null && index.getTerminal().getInstanceIndex() >= wanted;
    }

    private Integer repeatCount(FormIndex repeatIndex) {
        List<Integer> positions = repeatPositions(repeatIndex);
        // The terminal level is the repeat itself; the count is keyed by the
        // positions of the *enclosing* repeat instances only.
        if (!positions.isEmpty()) {
            positions = positions.subList(0, positions.size() - 1);
        }
        String text = lookup(questionPath(repeatIndex) + COUNT_SUFFIX, positions);
        if (text == null) {
            return null;
        }
        try {
            return Integer.valueOf(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad repeat count '" + text + "' for " + questionPath(repeatIndex));
        }
    }

    // ------------------------------------------------------------------
    // Answer keys
    // ------------------------------------------------------------------

    /** "grp/anggota/nama" for /data/grp/anggota[2]/nama: no root, no indexes. */
    private static String questionPath(FormIndex index) {
        TreeReference ref = index.getReference();
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i < ref.size(); i++) { // level 0 is the root element
            if (sb.length() > 0) {
                sb.append('/');
            }
            sb.append(ref.getName(i));
        }
        return sb.toString();
    }

    /** 1-based instance numbers of the repeats enclosing (or being) index. */
    private List<Integer> repeatPositions(FormIndex index) {
        List<Integer> positions = new ArrayList<>();
        for (FormEntryCaption caption : model.getCaptionHierarchy(index)) {
            if (caption.repeats()) {
                positions.add(caption.getMultiplicity() + 1);
            }
        }
        return positions;
    }

    /** Most specific key first: path#1.2, then path#2 (innermost), then path. */
    private String lookup(String path, List<Integer> positions) {
        List<String> candidates = new ArrayList<>();
        if (!positions.isEmpty()) {
            StringBuilder chain = new StringBuilder();
            for (Integer p : positions) {
                if (chain.length() > 0) {
                    chain.append('.');
                }
                chain.append(p);
            }
            candidates.add(path + "#" + chain);
            candidates.add(path + "#" + positions.get(positions.size() - 1));
        }
        candidates.add(path);
        for (String key : candidates) {
            String value = answers.getProperty(key);
            if (value != null) {
                usedKeys.add(key);
                return value;
            }
        }
        return null;
    }

    private void checkAllKeysUsed() throws UnusedKeys {
        Set<String> unused = new TreeSet<>();
        for (String key : answers.stringPropertyNames()) {
            if (!usedKeys.contains(key) && !key.startsWith(PROPERTY_PREFIX)) {
                unused.add(key);
            }
        }
        if (!unused.isEmpty()) {
            throw new UnusedKeys("answer keys never used (no such question, not relevant, or repeat "
                + "instance not created): " + unused);
        }
    }

    private Map<String, String> propertyValues() {
        Map<String, String> values = new HashMap<>();
        for (String key : answers.stringPropertyNames()) {
            if (key.startsWith(PROPERTY_PREFIX)) {
                values.put(key.substring(PROPERTY_PREFIX.length()), answers.getProperty(key));
            }
        }
        return values;
    }

    // ------------------------------------------------------------------
    // Serialisation
    // ------------------------------------------------------------------

    /**
     * What Collect uploads: JavaRosaFormController.getSubmissionXml(), i.e.
     * XFormSerializingVisitor over the main instance, restricted to the
     * <submission ref> if the form declares one (otherwise "/").
     */
    private static byte[] serialise(FormDef formDef) throws IOException {
        SubmissionProfile profile = formDef.getSubmissionProfile();
        IDataReference ref = (profile == null || profile.getRef() == null)
            ? new XPathReference("/")
            : profile.getRef();
        IDataPayload payload = new XFormSerializingVisitor().createSerializedPayload(formDef.getMainInstance(), ref);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (InputStream in = payload.getPayloadStream()) {
            in.transferTo(out);
        }
        return out.toByteArray();
    }

    // ------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------

    /** "question 'anggota/nama_anggota' (repeat instance #2)" for messages. */
    private String describe(FormEntryPrompt prompt) {
        FormIndex index = prompt.getIndex();
        List<Integer> positions = repeatPositions(index);
        StringBuilder sb = new StringBuilder("question '").append(questionPath(index)).append('\'');
        if (!positions.isEmpty()) {
            sb.append(" (repeat instance #");
            for (int i = 0; i < positions.size(); i++) {
                sb.append(i == 0 ? "" : ".").append(positions.get(i));
            }
            sb.append(')');
        }
        return sb.toString();
    }

    /** The raw constraint XPath from the question's bind, if any. */
    private String constraintExpression(FormEntryPrompt prompt) {
        TreeElement element = model.getForm().getMainInstance().resolveReference(prompt.getIndex().getReference());
        if (element == null || element.getConstraint() == null) {
            return null;
        }
        IConditionExpr expr = element.getConstraint().constraint;
        return expr instanceof XPathConditional ? ((XPathConditional) expr).xpath : String.valueOf(expr);
    }

    private static String dataTypeName(int dataType) {
        switch (dataType) {
            case Constants.DATATYPE_INTEGER: return "int";
            case Constants.DATATYPE_LONG: return "long";
            case Constants.DATATYPE_DECIMAL: return "decimal";
            case Constants.DATATYPE_DATE: return "date (yyyy-mm-dd)";
            case Constants.DATATYPE_TIME: return "time (HH:mm:ss)";
            case Constants.DATATYPE_DATE_TIME: return "dateTime (ISO 8601)";
            case Constants.DATATYPE_BOOLEAN: return "boolean";
            case Constants.DATATYPE_GEOPOINT: return "geopoint (lat lon alt acc)";
            case Constants.DATATYPE_GEOSHAPE: return "geoshape";
            case Constants.DATATYPE_GEOTRACE: return "geotrace";
            default: return "#" + dataType;
        }
    }

    /**
     * Stand-in for Collect's org.odk.collect.android.logic.PropertyManager,
     * which answers jr:preload="property" (deviceid, username, email,
     * phonenumber and their "uri:" variants). Collect's deviceid is
     * "collect:" + 16 random alphanumerics generated once per install; we
     * generate one per run unless @property.deviceid is given.
     */
    static final class CollectLikePropertyManager implements IPropertyManager {
        private final Map<String, String> values = new HashMap<>();

        CollectLikePropertyManager(Map<String, String> given) {
            values.put("deviceid", "collect:" + randomAlphanumeric(16));
            values.putAll(given);
            for (String name : new String[] {"deviceid", "username", "email", "phonenumber"}) {
                String v = values.get(name);
                if (v != null && !values.containsKey("uri:" + name)) {
                    values.put("uri:" + name, v);
                }
            }
        }

        private static String randomAlphanumeric(int n) {
            String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            SecureRandom random = new SecureRandom();
            StringBuilder sb = new StringBuilder(n);
            for (int i = 0; i < n; i++) {
                sb.append(alphabet.charAt(random.nextInt(alphabet.length())));
            }
            return sb.toString();
        }

        @Override
        public List<String> getProperty(String name) {
            String v = values.get(name);
            return v == null ? Collections.emptyList() : Collections.singletonList(v);
        }

        @Override
        public void setProperty(String name, String value) {
            // Preload post-processing may write values back; ignored here.
        }

        @Override
        public void setProperty(String name, List<String> value) {
        }

        @Override
        public String getSingularProperty(String name) {
            return values.get(name);
        }

        @Override
        public void addRules(IPropertyRules rules) {
        }

        @Override
        public List<IPropertyRules> getRules() {
            return Collections.emptyList();
        }
    }
}
